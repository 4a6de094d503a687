package measure

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// jsonEntry is one entry of WriteJSON.
type jsonEntry struct {
	Index     int      `json:"index"`
	PCR       int      `json:"pcr"`
	Digest    string   `json:"digest"`
	Template  string   `json:"template"`
	Violation bool     `json:"violation,omitempty"`
	Algo      string   `json:"file_digest_algo,omitempty"`
	File      string   `json:"file_digest,omitempty"`
	Name      string   `json:"name,omitempty"`
	Fields    []string `json:"fields"`
}

// WriteJSON writes entries read from r as a JSON document (schema 1), one
// entry a line, with template digests of bank (0: each entry's own).
func WriteJSON(w io.Writer, r EntryReader, bank Algo) error {
	fmt.Fprint(w, "{\"schema\":1,\"entries\":[")
	for i := 0; ; i++ {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		je := jsonEntry{Index: i, PCR: e.PCR, Digest: hex.EncodeToString(e.DigestIn(bank)),
			Template: e.Template.ListName(), Violation: e.IsViolation(), Fields: make([]string, len(e.Fields))}
		for j := range e.Fields {
			je.Fields[j] = e.FieldText(j)
		}
		if p, d, ok := e.FileDigest(); ok {
			je.Algo, je.File = p, hex.EncodeToString(d)
		}
		je.Name, _ = e.FileName()
		b, err := json.Marshal(je)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, "\n%s", b)
	}
	_, err := fmt.Fprint(w, "\n]}\n")
	return err
}

// WriteText writes a replay result: the counts, every track's PCRs and,
// when PCRs were quoted, each bank's verdict.
func (res *Result) WriteText(w io.Writer, quoted bool) {
	digests := "ok"
	if res.DigestErrorCount > 0 {
		digests = fmt.Sprintf("%d wrong (entries %v)", res.DigestErrorCount, res.DigestErrors)
	}
	fmt.Fprintf(w, "entries: %d  violations: %d  template digests: %s\n", res.Entries, res.Violations, digests)
	for _, t := range res.Tracks {
		for _, p := range t.PCRs {
			status := ""
			switch {
			case p.Want == nil:
			case p.Matched():
				status = fmt.Sprintf("  match at entry %s", joinInts(p.Matches))
			default:
				status = "  no match, quoted " + hex.EncodeToString(p.Want)
			}
			fmt.Fprintf(w, "%-6s %-11s PCR %2d: %x%s\n", t.Bank, t.Mode, p.PCR, p.Value, status)
		}
	}
	if !quoted {
		return
	}
	for _, v := range res.Verdicts() {
		if v.Matched {
			var idx []string
			for _, p := range sortedKeys(v.Index) {
				idx = append(idx, fmt.Sprintf("PCR %d at entry %d", p, v.Index[p]))
			}
			fmt.Fprintf(w, "%s: match (%s): %s\n", v.Bank, v.Mode, strings.Join(idx, ", "))
		} else {
			fmt.Fprintf(w, "%s: MISMATCH in every mode\n", v.Bank)
		}
	}
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}

func sortedKeys(m map[int]int) []int {
	k := make([]int, 0, len(m))
	for i := range m {
		k = append(k, i)
	}
	sort.Ints(k)
	return k
}

// WriteJSON writes a replay result as JSON (schema 1); verr, the
// verification's error, makes it a mismatch.
func (res *Result) WriteJSON(w io.Writer, verr error) {
	type pcrJSON struct {
		PCR     int    `json:"pcr"`
		Value   string `json:"value"`
		Want    string `json:"want,omitempty"`
		Matches []int  `json:"matches,omitempty"`
	}
	type trackJSON struct {
		Bank string    `json:"bank"`
		Mode string    `json:"mode"`
		PCRs []pcrJSON `json:"pcrs"`
	}
	type verdictJSON struct {
		Bank    string         `json:"bank"`
		Matched bool           `json:"matched"`
		Mode    string         `json:"mode,omitempty"`
		Index   map[string]int `json:"index,omitempty"`
	}
	out := struct {
		Schema       int           `json:"schema"`
		Result       string        `json:"result"`
		Error        string        `json:"error,omitempty"`
		Entries      int           `json:"entries"`
		Violations   int           `json:"violations"`
		DigestErrors int           `json:"digest_errors"`
		Banks        []verdictJSON `json:"banks"`
		Tracks       []trackJSON   `json:"tracks"`
	}{Schema: 1, Result: "match", Entries: res.Entries, Violations: res.Violations, DigestErrors: res.DigestErrorCount}
	if verr != nil {
		out.Result, out.Error = "mismatch", verr.Error()
	}
	for _, v := range res.Verdicts() {
		vj := verdictJSON{Bank: v.Bank.String(), Matched: v.Matched}
		if v.Matched {
			vj.Mode = v.Mode.String()
			vj.Index = map[string]int{}
			for p, i := range v.Index {
				vj.Index[fmt.Sprint(p)] = i
			}
		}
		out.Banks = append(out.Banks, vj)
	}
	for _, t := range res.Tracks {
		tj := trackJSON{Bank: t.Bank.String(), Mode: t.Mode.String()}
		for _, p := range t.PCRs {
			pj := pcrJSON{PCR: p.PCR, Value: hex.EncodeToString(p.Value), Matches: p.Matches}
			if p.Want != nil {
				pj.Want = hex.EncodeToString(p.Want)
			}
			tj.PCRs = append(tj.PCRs, pj)
		}
		out.Tracks = append(out.Tracks, tj)
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintf(w, "%s\n", b)
}
