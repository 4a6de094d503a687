package measure

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ParsePCRs reads quoted PCR values from text. It accepts, one per line:
//   - "PCR-NN: hex" (evmctl --pcrs files, TPM 1.2 sysfs "pcrs", whose hex
//     may be split by spaces);
//   - "N: hex" and "N : 0xhex" (tsspcrread, tpm2_pcrread), with
//     tpm2_pcrread's "sha256:" bank header lines;
//   - a lone hex value, as read from /sys/class/tpm/tpm0/pcr-<alg>/10,
//     taken as PCR 10.
//
// Files may be sparse (only the PCRs that matter). Blank lines and '#'
// comments are skipped, as are label lines whose value is not hex (like
// "pcrread: tsspcrread -halg sha1"). algo is the bank; 0 infers it from the
// digest length where that is unambiguous (20, 48, 64 bytes) and fails for
// 32-byte values (sha256 or sm3).
func ParsePCRs(r io.Reader, algo Algo) (Quote, error) {
	type val struct {
		bank Algo
		pcr  int
		d    []byte
		line int
	}
	var vals []val
	bank := algo
	sc := bufio.NewScanner(r)
	ln := 0
	for sc.Scan() {
		ln++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		key, value, hasColon := strings.Cut(s, ":")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if !hasColon {
			d, err := parseHexValue(s)
			if err != nil {
				return nil, fmt.Errorf("PCR file line %d: %w", ln, err)
			}
			vals = append(vals, val{bank, 10, d, ln})
			continue
		}
		if value == "" {
			if a, err := ParseAlgo(key); err == nil {
				bank = a
				continue
			}
			return nil, fmt.Errorf("PCR file line %d: %q is neither a bank header nor a PCR value", ln, s)
		}
		num := strings.TrimPrefix(strings.TrimPrefix(key, "PCR-"), "PCR")
		pcr, err := strconv.Atoi(num)
		if err != nil {
			if _, herr := parseHexValue(value); herr != nil {
				continue // a label line
			}
			return nil, fmt.Errorf("PCR file line %d: bad PCR index %q", ln, key)
		}
		if pcr < 0 || pcr >= NumPCRs {
			return nil, fmt.Errorf("PCR file line %d: %w: %d", ln, ErrBadPCR, pcr)
		}
		d, err := parseHexValue(value)
		if err != nil {
			return nil, fmt.Errorf("PCR file line %d (PCR %d): %w", ln, pcr, err)
		}
		vals = append(vals, val{bank, pcr, d, ln})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading PCR file: %w", err)
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("PCR file has no PCR values")
	}
	q := Quote{}
	for _, v := range vals {
		a := v.bank
		if a == 0 {
			var ok bool
			if a, ok = AlgoForSize(len(v.d)); !ok {
				return nil, fmt.Errorf("PCR file line %d: cannot tell the bank of a %d-byte value (sha256 or sm3?): give ALG,FILE", v.line, len(v.d))
			}
		}
		if len(v.d) != a.Size() {
			return nil, fmt.Errorf("PCR file line %d: %d-byte value for a %s bank", v.line, len(v.d), a)
		}
		if q[a] == nil {
			q[a] = map[int][]byte{}
		}
		if _, dup := q[a][v.pcr]; dup {
			return nil, fmt.Errorf("PCR file line %d: %s PCR %d given twice", v.line, a, v.pcr)
		}
		q[a][v.pcr] = v.d
	}
	return q, nil
}

func parseHexValue(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	s = strings.ReplaceAll(s, " ", "")
	d, err := hex.DecodeString(s)
	if err != nil || len(d) == 0 {
		return nil, fmt.Errorf("bad hex value %q", s)
	}
	return d, nil
}

// Merge adds q2's values to q.
func (q Quote) Merge(q2 Quote) {
	for a, m := range q2 {
		if q[a] == nil {
			q[a] = map[int][]byte{}
		}
		for i, d := range m {
			q[a][i] = d
		}
	}
}
