package main

import (
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/imasim/imasim/measure/digsig"
)

// fileXattrs is the appraisal view of one file on disk.
type fileXattrs struct {
	Path string `json:"path"`
	IMA  string `json:"security_ima"` // what verified, "absent", or the failure
	EVM  string `json:"security_evm"`
	OK   bool   `json:"ok"`
}

// attestXattrs checks security.ima against the content and security.evm
// against the xattrs and inode of files on disk, as IMA/EVM appraisal does.
func attestXattrs(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest xattrs", "attest xattrs FILE... [--keys CERT,...]", stderr)
	keysF := fs.String("keys", "", "x509 certificates (PEM or DER) or PEM public keys, comma-separated")
	ff := addFormat(fs, "text", "json")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	format, err := ff.get("text", "json")
	if err != nil || len(pos) == 0 {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest xattrs:", err); return exitUsage }
	keys, err := readKeys(*keysF)
	if err != nil {
		return bad(err)
	}
	rc := exitOK
	var out []fileXattrs
	for _, p := range pos {
		x, in, err := digsig.ReadFile(p)
		if err != nil {
			return bad(err)
		}
		fx := fileXattrs{Path: p, IMA: "absent", EVM: "absent", OK: true}
		if raw, ok := x["security.ima"]; ok {
			sums := map[crypto.Hash][]byte{}
			var rerr error
			digest := func(h crypto.Hash) []byte {
				if d, ok := sums[h]; ok {
					return d
				}
				f, err := os.Open(p)
				if err != nil {
					rerr = err
					return nil
				}
				defer f.Close()
				d := h.New()
				if _, err := io.Copy(d, f); err != nil {
					rerr = err
				}
				sums[h] = d.Sum(nil)
				return sums[h]
			}
			what, err := digsig.VerifyIMA(keys, raw, digest)
			if rerr != nil {
				return bad(rerr)
			}
			if err != nil {
				fx.IMA, fx.OK = "FAILED: "+err.Error(), false
			} else {
				fx.IMA = what + " ok"
			}
		}
		if raw, ok := x["security.evm"]; ok {
			what, err := digsig.VerifyEVM(keys, raw, x, in)
			if err != nil {
				fx.EVM, fx.OK = "FAILED: "+err.Error(), false
			} else {
				fx.EVM = what + " ok"
			}
		}
		if !fx.OK {
			rc = exitFail
		}
		out = append(out, fx)
	}
	if format == "json" {
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		for _, fx := range out {
			fmt.Fprintf(stdout, "%s\n  security.ima  %s\n  security.evm  %s\n", fx.Path, fx.IMA, fx.EVM)
		}
	}
	return rc
}
