package main

import (
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/measure/digsig"
)

// readEVMKey reads the EVM HMAC key: the key's bytes as they are, as
// evmctl's /etc/keys/evm-key-plain (1-128 bytes).
func readEVMKey(ctx context.Context, path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := input.ReadFile(ctx, path, digsig.MaxHMACKey)
	if err != nil {
		return nil, fmt.Errorf("--evm-key: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("--evm-key %s: empty", path)
	}
	return b, nil
}

// fsUUID applies --fsuuid to an inode: "auto" keeps the filesystem's UUID
// (a kernel with CONFIG_EVM_ATTR_FSUUID, as Debian's), "none" leaves it out
// (a kernel without it; evmctl 1.4's hmac), or a UUID given in hex.
func fsUUID(flag string, in *digsig.Inode) error {
	switch flag {
	case "auto", "":
		return nil
	case "none":
		in.FSUUID, in.NoFSUUID = nil, ""
		return nil
	}
	b, err := hex.DecodeString(strings.ReplaceAll(flag, "-", ""))
	if err != nil || len(b) != 16 {
		return fmt.Errorf("--fsuuid %q: want auto, none or a UUID", flag)
	}
	in.FSUUID, in.NoFSUUID = b, ""
	return nil
}

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
	fs := newFlags("attest xattrs", "attest xattrs FILE... [--keys CERT,...] [--evm-key KEY [--fsuuid auto|none|UUID]]", stderr)
	keysF := fs.String("keys", "", "x509 certificates (PEM or DER) or PEM public keys, comma-separated")
	evmKeyF := fs.String("evm-key", "", "the kernel's EVM HMAC key, its bytes as they are (as evmctl's /etc/keys/evm-key-plain): verifies security.evm HMACs")
	uuidF := fs.String("fsuuid", "auto", "FS UUID in HMACs and non-portable signatures: auto (the filesystem's, CONFIG_EVM_ATTR_FSUUID=y), none, or a UUID")
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
	evmKey, err := readEVMKey(ctx, *evmKeyF)
	if err != nil {
		return bad(err)
	}
	if err := fsUUID(*uuidF, &digsig.Inode{}); err != nil {
		return bad(err)
	}
	rc := exitOK
	var out []fileXattrs
	for _, p := range pos {
		x, in, err := digsig.ReadFile(p)
		if err != nil {
			return bad(err)
		}
		_ = fsUUID(*uuidF, &in)
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
			if len(raw) > 0 && raw[0] == digsig.TypeHMAC && evmKey != nil {
				what, err = "HMAC", digsig.VerifyHMAC(evmKey, raw, x, in)
			}
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
// signatures) on files, as evmctl ima_sign and evmctl sign --portable do;
// with --evm-key, security.evm HMACs as the kernel writes them.
func attestSign(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("attest sign", "attest sign FILE... [--key KEY.pem [--cert CERT] [--evm] [--hash sha256]] [--evm-key KEY [--fsuuid auto|none|UUID]]", stderr)
	keyF := fs.String("key", "", "private key, PEM (PKCS #8, PKCS #1 or SEC 1): signs security.ima")
	evmKeyF := fs.String("evm-key", "", "the kernel's EVM HMAC key (its bytes as they are): writes a security.evm HMAC, last")
	uuidF := fs.String("fsuuid", "auto", "FS UUID in the HMAC: auto (the filesystem's, CONFIG_EVM_ATTR_FSUUID=y), none, or a UUID")
	certF := fs.String("cert", "", "the key's certificate: the key id comes from its subject key identifier (default: from the public key)")
	evm := fs.Bool("evm", false, "also write a portable EVM signature (security.evm) over the xattrs and inode, after security.ima")
	hashF := fs.String("hash", "sha256", "hash algorithm: sha1, sha256, sha384, sha512")
	pos, code, ok := parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) == 0 || (*keyF == "" && *evmKeyF == "") {
		fs.Usage()
		return exitUsage
	}
	bad := func(err error) int { fmt.Fprintln(stderr, "imasim attest sign:", err); return exitUsage }
	if *evm && *evmKeyF != "" {
		return bad(fmt.Errorf("--evm (a portable signature) and --evm-key (an HMAC) both write security.evm: give one"))
	}
	if *evm && *keyF == "" {
		return bad(fmt.Errorf("--evm needs --key"))
	}
	evmKey, err := readEVMKey(ctx, *evmKeyF)
	if err != nil {
		return bad(err)
	}
	if err := fsUUID(*uuidF, &digsig.Inode{}); err != nil {
		return bad(err)
	}
	if *keyF == "" {
		return writeHMACs(pos, evmKey, *uuidF, stdout, stderr)
	}
	h, ok := map[string]crypto.Hash{"sha1": crypto.SHA1, "sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}[*hashF]
	if !ok {
		return bad(fmt.Errorf("--hash %q: want sha1|sha256|sha384|sha512", *hashF))
	}
	kb, err := input.ReadFile(ctx, *keyF, maxKeyFile)
	if err != nil {
		return bad(err)
	}
	signer, err := digsig.ParsePrivateKey(kb)
	if err != nil {
		return bad(fmt.Errorf("%s: %w", *keyF, err))
	}
	var skid []byte
	if *certF != "" {
		cb, err := input.ReadFile(ctx, *certF, maxKeyFile)
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
		if evmKey != nil {
			if rc := writeHMACs([]string{p}, evmKey, *uuidF, stdout, stderr); rc != exitOK {
				return rc
			}
		}
	}
	return exitOK
}

// writeHMACs writes security.evm HMACs over the files' xattrs and inodes,
// as the kernel's evm_update_evmxattr does.
func writeHMACs(files []string, key []byte, uuid string, stdout, stderr io.Writer) int {
	for _, p := range files {
		x, in, err := digsig.ReadFile(p)
		var h []byte
		if err == nil {
			_ = fsUUID(uuid, &in)
			if err = in.Local(); err != nil {
				err = fmt.Errorf("HMAC: %w", err)
			} else if h, err = digsig.HMAC(key, x, in); err == nil {
				err = unix.Lsetxattr(p, "security.evm", h, 0)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "imasim attest sign: %s: security.evm: %v\n", p, err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s: security.evm HMAC %x\n", p, h[1:])
	}
	return exitOK
}
