package main

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

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
func attestXattrs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
	keys, err := readKeys(ctx, *keysF)
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

// attestSign writes security.ima signatures (and with --evm portable EVM
// signatures) on files, as evmctl ima_sign and evmctl sign --portable do.
func attestSign(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest sign", "attest sign FILE... --key KEY.pem [--cert CERT] [--evm] [--hash sha256]", stderr)
	keyF := fs.String("key", "", "private key, PEM (PKCS #8, PKCS #1 or SEC 1) (required)")
	certF := fs.String("cert", "", "the key's certificate: the key id comes from its subject key identifier (default: from the public key)")
	evm := fs.Bool("evm", false, "also write a portable EVM signature (security.evm) over the xattrs and inode, after security.ima")
	hashF := fs.String("hash", "sha256", "hash algorithm: sha1, sha256, sha384, sha512")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 || *keyF == "" {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest sign:", err); return exitUsage }
	h, ok := map[string]crypto.Hash{"sha1": crypto.SHA1, "sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}[*hashF]
	if !ok {
		return bad(fmt.Errorf("--hash %q: want sha1|sha256|sha384|sha512", *hashF))
	}
	kb, err := os.ReadFile(*keyF)
	if err != nil {
		return bad(err)
	}
	signer, err := digsig.ParsePrivateKey(kb)
	if err != nil {
		return bad(fmt.Errorf("%s: %w", *keyF, err))
	}
	var skid []byte
	if *certF != "" {
		cb, err := os.ReadFile(*certF)
		if err != nil {
			return bad(err)
		}
		keys, err := digsig.ParseKeys(cb, *certF)
		if err != nil {
			return bad(err)
		}
		if !keys[0].Pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(signer.Public()) {
			return bad(fmt.Errorf("%s is not the certificate of %s", *certF, *keyF))
		}
		skid = keys[0].SKID
	}
	id, err := digsig.KeyID(signer.Public(), skid)
	if err != nil {
		return bad(err)
	}
	for _, p := range pos {
		f, err := os.Open(p)
		if err != nil {
			return bad(err)
		}
		d := h.New()
		_, err = io.Copy(d, f)
		f.Close()
		if err != nil {
			return bad(err)
		}
		sig, err := digsig.Sign(signer, h, id, d.Sum(nil))
		if err == nil {
			err = unix.Setxattr(p, "security.ima", sig, 0)
		}
		if err != nil {
			fmt.Fprintf(stderr, "imasim attest sign: %s: security.ima: %v\n", p, err)
			return exitFail
		}
		what := "security.ima"
		if *evm {
			x, in, err := digsig.ReadFile(p)
			if err == nil {
				var es []byte
				if es, err = digsig.SignEVM(signer, h, id, x, in); err == nil {
					err = unix.Setxattr(p, "security.evm", es, 0)
				}
			}
			if err != nil {
				fmt.Fprintf(stderr, "imasim attest sign: %s: security.evm: %v\n", p, err)
				return exitFail
			}
			what += ", security.evm (portable)"
		}
		fmt.Fprintf(stdout, "%s: %s signed, key id %08x\n", p, what, id)
	}
	return exitOK
}
