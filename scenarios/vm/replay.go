package vm

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// ListEntry is one entry of a binary measurement list.
type ListEntry struct {
	PCR      uint32
	Digest   []byte // sha1 template digest as listed (zero for a violation)
	Template string
	Data     []byte // template data: u32 length + bytes per field
	FileHash string // d-ng field, "sha256:hex"
	Name     string // n-ng field
}

// Violation reports whether the entry records a violation (zero digest).
func (e ListEntry) Violation() bool { return bytes.Count(e.Digest, []byte{0}) == len(e.Digest) }

// ParseBinaryList reads binary_runtime_measurements in the host's (little
// endian, non-canonical) order. Linux v6.12:
// security/integrity/ima/ima_fs.c:ima_measurements_show writes pcr, the
// sha1 template digest, the template name with its length, then for every
// template but "ima" the data length and each field with its length.
func ParseBinaryList(b []byte) ([]ListEntry, error) {
	var out []ListEntry
	le := binary.LittleEndian
	off := 0
	need := func(n int) error {
		if n < 0 || off+n > len(b) {
			return fmt.Errorf("measurement list: entry %d truncated at byte %d", len(out), off)
		}
		return nil
	}
	for off < len(b) {
		var e ListEntry
		if err := need(4 + 20 + 4); err != nil {
			return out, err
		}
		e.PCR = le.Uint32(b[off:])
		e.Digest = append([]byte{}, b[off+4:off+24]...)
		n := int(le.Uint32(b[off+24:]))
		off += 28
		if n > 255 {
			return out, fmt.Errorf("measurement list: entry %d: template name length %d", len(out), n)
		}
		if err := need(n); err != nil {
			return out, err
		}
		e.Template = string(b[off : off+n])
		off += n
		if e.Template == "ima" {
			return out, fmt.Errorf("measurement list: entry %d: legacy template \"ima\" is not supported", len(out))
		}
		if err := need(4); err != nil {
			return out, err
		}
		dl := int(le.Uint32(b[off:]))
		off += 4
		if err := need(dl); err != nil {
			return out, err
		}
		e.Data = append([]byte{}, b[off:off+dl]...)
		off += dl
		var fields [][]byte
		for p := 0; p < len(e.Data); {
			if p+4 > len(e.Data) {
				return out, fmt.Errorf("measurement list: entry %d: bad field length", len(out))
			}
			fl := int(le.Uint32(e.Data[p:]))
			p += 4
			if fl < 0 || p+fl > len(e.Data) {
				return out, fmt.Errorf("measurement list: entry %d: field overruns the entry", len(out))
			}
			fields = append(fields, e.Data[p:p+fl])
			p += fl
		}
		if len(fields) >= 2 && (e.Template == "ima-ng" || e.Template == "ima-sig" || e.Template == "ima-buf" || e.Template == "ima-modsig") {
			algo, dig, _ := bytes.Cut(fields[0], []byte{0})
			e.FileHash = strings.TrimSuffix(string(algo), ":") + ":" + hex.EncodeToString(dig)
			e.Name = string(bytes.TrimRight(fields[1], "\x00"))
		}
		out = append(out, e)
	}
	return out, nil
}

// BankReplay is one PCR bank's replay result.
type BankReplay struct {
	Bank     string `json:"bank"`
	Replayed string `json:"replayed"`
	Real     string `json:"real"`
	OK       bool   `json:"ok"`
}

// Replay extends PCR 10 from zero with every PCR-10 entry and compares with
// the real values (hex, as /sys/class/tpm/tpm0/pcr-<bank>/10 prints them).
// Each bank is extended with that bank's digest of the template data;
// violations extend 0xff.. (Linux v6.12: ima_queue.c:ima_add_template_entry,
// ima_init_digests; ima_crypto.c:ima_calc_field_array_hash).
func Replay(list []ListEntry, real map[string]string) []BankReplay {
	var out []BankReplay
	for _, bank := range []string{"sha1", "sha256"} {
		rv, ok := real[bank]
		if !ok {
			continue
		}
		size := map[string]int{"sha1": 20, "sha256": 32}[bank]
		pcr := make([]byte, size)
		for _, e := range list {
			if e.PCR != 10 {
				continue
			}
			var d []byte
			switch {
			case e.Violation():
				d = bytes.Repeat([]byte{0xff}, size)
			case bank == "sha1":
				d = e.Digest
			default:
				s := sha256.Sum256(e.Data)
				d = s[:]
			}
			pcr = extend(bank, pcr, d)
		}
		got := strings.ToLower(strings.TrimSpace(rv))
		want := hex.EncodeToString(pcr)
		out = append(out, BankReplay{Bank: bank, Replayed: want, Real: got, OK: got == want})
	}
	return out
}

func extend(bank string, pcr, d []byte) []byte {
	if bank == "sha1" {
		s := sha1.Sum(append(append([]byte{}, pcr...), d...))
		return s[:]
	}
	s := sha256.Sum256(append(append([]byte{}, pcr...), d...))
	return s[:]
}
