package main

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	goattest "github.com/google/go-attestation/attest"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/internal/sharedtest"
	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/digsig"
	"github.com/imasim/imasim/tpm"
	"github.com/imasim/imasim/tpm/attest"
)

func sharedPath(t *testing.T, rel string) string { return sharedtest.Path(t, rel) }

func needSwtpmCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("swtpm not installed (Debian package swtpm): ", err)
	}
}

var timestampRE = regexp.MustCompile(`"timestamp": "[^"]*"`)

// imasim regenerates shared/keylime's list from its scenario, and the policy
// it makes from that list is keylime's (timestamps aside).
func TestAttestPolicyMatchesKeylime(t *testing.T) {
	scn := sharedPath(t, "keylime/sample.scn")
	list := sharedPath(t, "keylime/sample.ascii_runtime_measurements")
	want, err := os.ReadFile(sharedPath(t, "keylime/sample.runtime-policy.json"))
	require.NoError(t, err)

	mine := filepath.Join(t.TempDir(), "ascii")
	code, _, errs := imasim("scenario", scn, "--profile", "7.1", "--ascii-out", mine)
	require.Equal(t, exitOK, code, errs)
	a, _ := os.ReadFile(list)
	b, _ := os.ReadFile(mine)
	require.Equal(t, string(a), string(b), "the scenario no longer gives the list keylime was given")

	code, out, errs := imasim("attest", "policy", list)
	require.Equal(t, exitOK, code, errs)
	require.Regexp(t, `"timestamp": "\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?"`, out)
	require.Equal(t, timestampRE.ReplaceAllString(string(want), "T"), timestampRE.ReplaceAllString(out, "T"))

	code, out, errs = imasim("attest", "check", sharedPath(t, "keylime/sample.runtime-policy.json"), list)
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, out, "5 entries, 0 failed")
}

func TestAttestCheckRejects(t *testing.T) {
	pol := sharedPath(t, "keylime/sample.runtime-policy.json")
	list := sharedPath(t, "keylime/sample.ascii_runtime_measurements")
	b, err := os.ReadFile(list)
	require.NoError(t, err)
	dir := t.TempDir()

	// A list naming a program the policy does not know.
	other := filepath.Join(dir, "other")
	code, _, errs := imasim("scenario", "ext4-write", "--profile", "7.1", "--ascii-out", other)
	require.Equal(t, exitOK, code, errs)
	code, out, _ := imasim("attest", "check", pol, other, "--json")
	require.Equal(t, exitFail, code)
	var doc struct {
		Failed   int `json:"failed"`
		Findings []struct{ Path, Verdict string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	require.Equal(t, 2, doc.Failed) // boot_aggregate is the same (PCRs 0-9 zero); the program twice
	require.Equal(t, "ok", doc.Findings[0].Verdict)
	require.Equal(t, "not-in-policy", doc.Findings[1].Verdict)

	// Bad policies are bad input, with a byte offset for bad JSON.
	for _, bad := range []string{"{", `{"meta": {"version": 2}}`, "[]", ""} {
		f := filepath.Join(dir, "bad.json")
		require.NoError(t, os.WriteFile(f, []byte(bad), 0o644))
		code, _, errs := imasim("attest", "check", f, list)
		require.Equal(t, exitUsage, code, "%q: %s", bad, errs)
	}
	f := filepath.Join(dir, "syntax.json")
	require.NoError(t, os.WriteFile(f, []byte(`{"meta": {"version": 1,, }}`), 0o644))
	_, _, errs = imasim("attest", "check", f, list)
	require.Contains(t, errs, "byte 24")
	// A list that is not a list.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk"), b[:30], 0o644))
	code, _, _ = imasim("attest", "check", pol, filepath.Join(dir, "junk"))
	require.Equal(t, exitUsage, code)
}

// quote, then verify from the files: the quote, the list replayed against
// it, and keylime's policy; tampering, wrong nonces and other keys fail.
func TestAttestQuoteVerify(t *testing.T) {
	needSwtpmCLI(t)
	pol := sharedPath(t, "keylime/sample.runtime-policy.json")
	list := sharedPath(t, "keylime/sample.ascii_runtime_measurements")
	dir := filepath.Join(t.TempDir(), "q")
	code, out, errs := imasim("attest", "quote", "--tpm", "swtpm", "--extend", list, "-o", dir, "--nonce", "00112233")
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, out, "tpm2_checkquote")
	for _, f := range []string{"quote.msg", "quote.sig", "quote.pcrs", "ak.pub.pem", "ak.pub", "nonce"} {
		require.FileExists(t, filepath.Join(dir, f))
	}
	verify := func(args ...string) (int, string, string) {
		return imasim(append([]string{"attest", "verify", dir}, args...)...)
	}
	code, out, errs = verify("--nonce", "00112233", "--list", list, "--policy", pol)
	require.Equal(t, exitOK, code, out+errs)
	require.Contains(t, out, "all 5 entries replay")
	require.Contains(t, out, "policy  ok: 5 attested entries")
	code, _, errs = verify("--nonce", "@"+filepath.Join(dir, "nonce"))
	require.Equal(t, exitOK, code, errs)

	// Entries measured after the quote are not attested: the policy check
	// stops where the replay met the quote (an unknown program after it
	// does not fail this quote).
	f, err := os.Open(list)
	require.NoError(t, err)
	l, err := measure.ReadASCIIList(f, measure.ReadOptions{})
	f.Close()
	require.NoError(t, err)
	late, err := measure.NewFileEntry("ima-sig", 10, measure.SHA256, make([]byte, 32), "/late/unknown")
	require.NoError(t, err)
	l.Entries = append(l.Entries, late)
	longer := filepath.Join(t.TempDir(), "longer")
	var buf bytes.Buffer
	require.NoError(t, l.WriteBinary(&buf, measure.WriteOptions{}))
	require.NoError(t, os.WriteFile(longer, buf.Bytes(), 0o644))
	code, out, errs = verify("--nonce", "00112233", "--list", longer, "--policy", pol)
	require.Equal(t, exitOK, code, out+errs)
	require.Contains(t, out, "entries 0-4 of 6 replay to the quoted PCR")
	require.Contains(t, out, "the 1 after them are not covered")
	code, out, _ = imasim("attest", "check", pol, longer)
	require.Equal(t, exitFail, code, out)

	// A list the quote does not cover (another scenario's) fails the replay.
	other := filepath.Join(t.TempDir(), "other")
	code, _, errs = imasim("scenario", "ext4-write", "--profile", "7.1", "--list-out", other)
	require.Equal(t, exitOK, code, errs)
	code, out, _ = verify("--nonce", "00112233", "--list", other)
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "list    REJECTED")

	code, out, _ = verify("--nonce", "0011223344")
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "nonce")

	// Another TPM's AK as the trusted key.
	dir2 := filepath.Join(t.TempDir(), "q2")
	code, _, errs = imasim("attest", "quote", "--tpm", "swtpm", "--ak", "ecc", "-o", dir2)
	require.Equal(t, exitOK, code, errs)
	code, out, _ = verify("--nonce", "00112233", "--ak", filepath.Join(dir2, "ak.pub.pem"))
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "signature does not verify")

	// A tampered quote.
	msg := filepath.Join(dir, "quote.msg")
	b, err := os.ReadFile(msg)
	require.NoError(t, err)
	b[len(b)-1] ^= 1
	require.NoError(t, os.WriteFile(msg, b, 0o644))
	code, out, _ = verify("--nonce", "00112233", "--json")
	require.Equal(t, exitFail, code)
	var v struct {
		Verified bool `json:"verified"`
		Quote    struct {
			OK    bool
			Error string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	require.False(t, v.Verified)
	require.Contains(t, v.Quote.Error, "signature")

	// Bad input.
	code, _, _ = verify()
	require.Equal(t, exitUsage, code)
	code, _, _ = verify("--nonce", "zz")
	require.Equal(t, exitUsage, code)
	code, _, _ = imasim("attest", "verify", t.TempDir(), "--nonce", "00")
	require.Equal(t, exitUsage, code)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "quote.sig"), []byte{0, 0x14}, 0o644))
	code, _, errs = verify("--nonce", "00112233")
	require.Equal(t, exitUsage, code, errs)
}

func TestAttestNoTPM(t *testing.T) {
	code, _, errs := imasim("attest", "quote", "--tpm", "software", "-o", t.TempDir())
	require.Equal(t, exitUsage, code)
	require.Contains(t, errs, "no TPM")
	t.Setenv("PATH", t.TempDir()) // no swtpm
	code, _, errs = imasim("attest", "xfs-write", "--profile", "7.1", "--tpm", "swtpm")
	require.Equal(t, exitCannot, code, errs)
	code, _, _ = imasim("attest", "quote", "--tpm", "device:/nonexistent/tpmrm0", "-o", t.TempDir())
	require.Equal(t, exitCannot, code)
}

type attestDoc struct {
	Results []struct {
		Profile string `json:"profile"`
		Verify  struct {
			Verified bool `json:"verified"`
		} `json:"verification"`
		Files []struct {
			Path, Status, Installed, Measured string
			OnDisk                            string `json:"on_disk"`
		} `json:"files"`
		Missed      int `json:"accepted_changed"`
		ModelMissed int `json:"model_missed"`
	} `json:"results"`
}

// The missed re-evaluation of xfs-write on 7.1: the verifier accepts while
// the program on disk has changed. ext4-write on 7.1 re-measures: the
// policy of the files as installed rejects the new content.
func TestAttestScenario(t *testing.T) {
	needSwtpmCLI(t)
	out := t.TempDir()
	code, text, errs := imasim("attest", "xfs-write", "--profile", "7.1", "--out", out)
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, text, "ACCEPTED A CHANGED FILE")
	require.Contains(t, text, "/mnt/test_prog on disk is not what it attested")
	// The kept files verify with the separate verb too.
	nonce, err := os.ReadFile(filepath.Join(out, "nonce"))
	require.NoError(t, err)
	code, vout, errs := imasim("attest", "verify", out, "--nonce", strings.TrimSpace(string(nonce)),
		"--list", filepath.Join(out, "binary_runtime_measurements"), "--policy", filepath.Join(out, "runtime-policy.json"))
	require.Equal(t, exitOK, code, vout+errs)

	code, _, _ = imasim("attest", "xfs-write", "--profile", "7.1", "--fail-on", "missed")
	require.Equal(t, exitFail, code)

	code, js, errs := imasim("attest", "xfs-write", "--profile", "7.1", "--json")
	require.Equal(t, exitOK, code, errs)
	var d attestDoc
	require.NoError(t, json.Unmarshal([]byte(js), &d))
	require.Len(t, d.Results, 1)
	r := d.Results[0]
	require.True(t, r.Verify.Verified)
	require.Equal(t, 1, r.Missed)
	require.Equal(t, r.ModelMissed, r.Missed)
	require.Equal(t, "accepted-changed", r.Files[0].Status)
	require.Equal(t, r.Files[0].Installed, r.Files[0].Measured)
	require.NotEqual(t, r.Files[0].Measured, r.Files[0].OnDisk)

	code, js, _ = imasim("attest", "ext4-write", "--profile", "7.1", "--json")
	require.Equal(t, exitFail, code)
	d = attestDoc{}
	require.NoError(t, json.Unmarshal([]byte(js), &d))
	require.False(t, d.Results[0].Verify.Verified)
	require.Equal(t, "rejected", d.Results[0].Files[0].Status)
	require.Equal(t, d.Results[0].Files[0].Measured, d.Results[0].Files[0].OnDisk)

	code, js, errs = imasim("attest", "ext4-exec-loop", "--profile", "7.1", "--json", "--ak", "ecc")
	require.Equal(t, exitOK, code, errs)
	d = attestDoc{}
	require.NoError(t, json.Unmarshal([]byte(js), &d))
	require.Equal(t, "matches", d.Results[0].Files[0].Status)
	require.Zero(t, d.Results[0].Missed)

	code, _, _ = imasim("vm", "--kernel", "debian:7.2", "attest")
	require.Equal(t, exitUsage, code)
	code, _, _ = imasim("attest", "no-such-scenario")
	require.Equal(t, exitUsage, code)
	code, _, _ = imasim("attest", "xfs-write", "--fail-on", "excessive")
	require.Equal(t, exitUsage, code)
}

const guestLog = "../../tpm/eventlog/testdata/debian-7.2.13/"

// boot_aggregate from a real guest's event log matches its list; another
// list's does not; a TPM that measured the log's events quotes PCRs the log
// replays to, a fresh one does not.
func TestAttestBootAggregate(t *testing.T) {
	log := guestLog + "binary_bios_measurements"
	code, out, errs := imasim("attest", "boot-aggregate", log, "--list", guestLog+"binary_runtime_measurements")
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, out, "sha256:01e671c6d4bb9b7d30cd3a83ea89f2ebe3a2e4e3097a06754cdf03a3a9cf032f matches")

	other := filepath.Join(t.TempDir(), "other")
	code, _, errs = imasim("scenario", "ext4-write", "--profile", "7.1", "--list-out", other)
	require.Equal(t, exitOK, code, errs)
	code, out, _ = imasim("attest", "boot-aggregate", log, "--list", other)
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "MISMATCH")

	junk := filepath.Join(t.TempDir(), "junk")
	require.NoError(t, os.WriteFile(junk, []byte("not an event log at all"), 0o644))
	code, _, _ = imasim("attest", "boot-aggregate", junk)
	require.Equal(t, exitUsage, code)

	needSwtpmCLI(t)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	el, err := goattest.ParseEventLog(b)
	require.NoError(t, err)
	p, err := tpm.Open("swtpm")
	require.NoError(t, err)
	defer p.Close()
	dir := filepath.Join(t.TempDir(), "fresh")
	quote09 := func(dir string) {
		c := p.(tpm.Commander)
		sel, err := attest.ParseSelection("sha1:0-9+sha256:0-9")
		require.NoError(t, err)
		ev, err := quoteWith(c, attest.RSA, []byte{1, 2}, sel)
		require.NoError(t, err)
		require.NoError(t, attest.WriteDir(dir, ev))
	}
	quote09(dir)
	code, out, _ = imasim("attest", "boot-aggregate", log, "--quote", dir, "--nonce", "0102")
	require.Equal(t, exitFail, code, out)
	require.Contains(t, out, "does not replay")

	// Extend the log's events as the firmware did, then quote again.
	byBank := map[crypto.Hash][]goattest.Event{crypto.SHA1: el.Events(goattest.HashSHA1), crypto.SHA256: el.Events(goattest.HashSHA256),
		crypto.SHA384: el.Events(goattest.HashSHA384), crypto.SHA512: el.Events(goattest.HashSHA512)}
	for i, e := range byBank[crypto.SHA256] {
		if e.Type == 3 { // EV_NO_ACTION
			continue
		}
		d := map[crypto.Hash][]byte{}
		for _, h := range p.Banks() {
			d[h] = byBank[h][i].Digest
		}
		require.NoError(t, p.Extend(e.Index, d))
	}
	dir = filepath.Join(t.TempDir(), "measured")
	quote09(dir)
	code, out, errs = imasim("attest", "boot-aggregate", log, "--quote", dir, "--nonce", "0102", "--list", guestLog+"ascii_runtime_measurements")
	require.Equal(t, exitOK, code, out+errs)
	require.Contains(t, out, "replays to the quoted sha1:0,1,2,3,4,5,6,7,8,9+sha256:0,1,2,3,4,5,6,7,8,9")
	code, _, _ = imasim("attest", "boot-aggregate", log, "--quote", dir, "--nonce", "0103")
	require.Equal(t, exitFail, code)
}

// Signatures imasim makes in an ima-sig list verify with evmctl
// ima_measurement --verify-sig, and attest check --keys accepts them
// without the policy; a changed signature fails both.
func TestAttestCheckKeys(t *testing.T) {
	for _, tool := range []string{"evmctl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian packages ima-evm-utils, openssl): %v", tool, err)
		}
	}
	dir := t.TempDir()
	sh := func(args ...string) {
		c := exec.Command(args[0], args[1:]...)
		c.Dir = dir
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
	}
	sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=imasim")
	sh("openssl", "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der")
	kb, err := os.ReadFile(filepath.Join(dir, "key.pem"))
	require.NoError(t, err)
	blk, _ := pem.Decode(kb)
	priv, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	require.NoError(t, err)
	cb, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	require.NoError(t, err)
	keys, err := digsig.ParseKeys(cb, "cert.pem")
	require.NoError(t, err)

	write := func(name string, tamper bool) string {
		var l measure.List
		ba, err := measure.NewBootAggregate("ima-sig", measure.SHA256, nil)
		require.NoError(t, err)
		l.Append(ba)
		for _, prog := range []string{"/usr/bin/a", "/usr/bin/b"} {
			d := sha256.Sum256([]byte(prog + " content"))
			sig, err := digsig.Sign(priv.(crypto.Signer), crypto.SHA256, keys[0].ID, d[:])
			require.NoError(t, err)
			if tamper {
				sig[len(sig)-1] ^= 1
			}
			e, err := measure.NewEntry("ima-sig", 10, measure.DigestNG("sha256", d[:]), measure.Name(prog), sig)
			require.NoError(t, err)
			l.Append(e)
		}
		var buf bytes.Buffer
		require.NoError(t, l.WriteBinary(&buf, measure.WriteOptions{}))
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
		res, err := l.Replay(measure.ReplayConfig{Banks: []measure.Algo{measure.SHA1}})
		require.NoError(t, err)
		var pcrs strings.Builder
		for i := 0; i < 24; i++ {
			v := make([]byte, 20)
			if i == 10 {
				v = res.Tracks[0].PCRs[0].Value
			}
			fmt.Fprintf(&pcrs, "PCR-%02d: %x\n", i, v)
		}
		require.NoError(t, os.WriteFile(p+".pcrs", []byte(pcrs.String()), 0o644))
		return p
	}
	good, bad := write("good", false), write("bad", true)
	evmctl := func(list string) (string, error) {
		out, err := exec.Command("evmctl", "ima_measurement", "--verify-sig", "--key", filepath.Join(dir, "cert.der"),
			"--pcrs", "sha1,"+list+".pcrs", list).CombinedOutput()
		return string(out), err
	}
	out, err := evmctl(good)
	require.NoError(t, err, out)
	require.NotContains(t, out, "verification failed")
	out, err = evmctl(bad)
	t.Logf("evmctl on changed signatures: %v %s", err, out)
	require.True(t, err != nil || strings.Contains(out, "failed"), "evmctl accepted changed signatures: %s", out)

	pol := filepath.Join(dir, "policy.json")
	code, _, errs := imasim("attest", "policy", good, "-o", pol)
	require.Equal(t, exitOK, code, errs)
	// A policy that knows only boot_aggregate: the signatures carry the rest.
	pb, err := os.ReadFile(pol)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(pb, &doc))
	onlyBA := strings.Replace(string(pb), `"/usr/bin/a": [`, `"/other/a": [`, 1)
	onlyBA = strings.Replace(onlyBA, `"/usr/bin/b": [`, `"/other/b": [`, 1)
	require.NotEqual(t, string(pb), onlyBA)
	require.NoError(t, os.WriteFile(pol, []byte(onlyBA), 0o644))

	code, out, errs = imasim("attest", "check", pol, good, "--keys", filepath.Join(dir, "cert.pem"))
	require.Equal(t, exitOK, code, out+errs)
	require.Equal(t, 2, strings.Count(out, "signed "))
	code, _, _ = imasim("attest", "check", pol, good, "--keys", filepath.Join(dir, "cert.der"))
	require.Equal(t, exitOK, code)
	code, out, _ = imasim("attest", "check", pol, good)
	require.Equal(t, exitFail, code, out)
	code, out, _ = imasim("attest", "check", pol, bad, "--keys", filepath.Join(dir, "cert.pem"))
	require.Equal(t, exitFail, code, out)
	require.Contains(t, out, "signature does not verify")
	code, _, _ = imasim("attest", "check", pol, good, "--keys", pol)
	require.Equal(t, exitUsage, code)

	// attest sigs verifies every signature a list carries, as
	// ima_measurement --verify-sig does, and ima-modsig appended signatures
	// (made here as scripts/sign-file makes them, with openssl cms).
	code, out, errs = imasim("attest", "sigs", good, "--keys", filepath.Join(dir, "cert.pem"))
	require.Equal(t, exitOK, code, out+errs)
	require.Contains(t, out, "3 entries: 2 signed, 0 failed, 1 without a signature")
	code, out, _ = imasim("attest", "sigs", bad, "--keys", filepath.Join(dir, "cert.pem"))
	require.Equal(t, exitFail, code, out)
	require.Contains(t, out, "2 failed")

	module := []byte("\x7fELF module text")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "mod"), module, 0o644))
	sh("openssl", "cms", "-sign", "-binary", "-noattr", "-nocerts", "-nosmimecap", "-outform", "DER", "-md", "sha256",
		"-signer", "cert.pem", "-inkey", "key.pem", "-in", "mod", "-out", "mod.p7s")
	p7, err := os.ReadFile(filepath.Join(dir, "mod.p7s"))
	require.NoError(t, err)
	modList := func(name string, content []byte) string {
		var l measure.List
		ba, err := measure.NewBootAggregate("ima-modsig", measure.SHA256, nil)
		require.NoError(t, err)
		l.Append(ba)
		whole := sha256.Sum256(append(bytes.Clone(content), p7...))
		dm := sha256.Sum256(content)
		e, err := measure.NewEntry("ima-modsig", 10, measure.DigestNG("sha256", whole[:]), measure.Name("/lib/modules/m.ko"),
			nil, measure.DigestNG("sha256", dm[:]), p7)
		require.NoError(t, err)
		l.Append(e)
		var buf bytes.Buffer
		require.NoError(t, l.WriteBinary(&buf, measure.WriteOptions{}))
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
		return p
	}
	code, out, errs = imasim("attest", "sigs", modList("mods", module), "--keys", filepath.Join(dir, "cert.der"))
	require.Equal(t, exitOK, code, out+errs)
	require.Contains(t, out, "modsig  ok")
	code, out, _ = imasim("attest", "sigs", modList("mods-changed", []byte("other module")), "--keys", filepath.Join(dir, "cert.der"))
	require.Equal(t, exitFail, code, out)
	require.Contains(t, out, "modsig  FAILED")
}

// attest xattrs appraises files on disk as evmctl signed them.
func TestAttestXattrs(t *testing.T) {
	for _, tool := range []string{"evmctl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (Debian packages ima-evm-utils, openssl): %v", tool, err)
		}
	}
	dir := t.TempDir()
	sh := func(args ...string) {
		c := exec.Command(args[0], args[1:]...)
		c.Dir = dir
		out, err := c.CombinedOutput()
		require.NoError(t, err, "%v: %s", args, out)
	}
	prog := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(prog, []byte("program"), 0o755))
	if err := unix.Setxattr(prog, "security.imasim-probe", []byte("x"), 0); err != nil {
		t.Skipf("cannot set security.* xattrs here: %v", err)
	}
	sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=imasim")
	sh("evmctl", "ima_sign", "--key", "key.pem", "prog")
	sh("evmctl", "sign", "--portable", "--key", "key.pem", "prog")
	cert := filepath.Join(dir, "cert.pem")
	code, out, errs := imasim("attest", "xattrs", prog, "--keys", cert)
	require.Equal(t, exitOK, code, out+errs)
	require.Contains(t, out, "security.ima  signature (")
	require.Contains(t, out, "security.evm  portable signature (")

	// Appended to: security.ima no longer matches the content.
	f, err := os.OpenFile(prog, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	f.WriteString("-appended")
	f.Close()
	code, out, _ = imasim("attest", "xattrs", prog, "--keys", cert, "--json")
	require.Equal(t, exitFail, code, out)
	var res []struct {
		IMA string `json:"security_ima"`
		EVM string `json:"security_evm"`
		OK  bool
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Contains(t, res[0].IMA, "FAILED")
	require.Contains(t, res[0].EVM, "ok")
	// chmod: security.evm fails too.
	require.NoError(t, os.Chmod(prog, 0o700))
	code, out, _ = imasim("attest", "xattrs", prog, "--keys", cert)
	require.Equal(t, exitFail, code)
	require.Contains(t, out, "security.evm  FAILED")

	code, _, _ = imasim("attest", "xattrs", filepath.Join(dir, "missing"))
	require.Equal(t, exitUsage, code)

	// imasim signs (RSA and EC keys); evmctl verifies both xattrs, and
	// refuses them after a change.
	sh("openssl", "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der")
	sh("openssl", "ecparam", "-name", "prime256v1", "-out", "ec.param")
	sh("openssl", "req", "-x509", "-newkey", "ec:ec.param", "-nodes", "-keyout", "eckey.pem", "-out", "eccert.pem", "-days", "1", "-subj", "/CN=ec")
	sh("openssl", "x509", "-in", "eccert.pem", "-outform", "DER", "-out", "eccert.der")
	for _, k := range []struct{ key, cert, der string }{{"key.pem", "cert.pem", "cert.der"}, {"eckey.pem", "eccert.pem", "eccert.der"}} {
		p := filepath.Join(dir, "signed-"+k.key)
		require.NoError(t, os.WriteFile(p, []byte("signed by imasim"), 0o755))
		code, out, errs = imasim("attest", "sign", p, "--key", filepath.Join(dir, k.key), "--cert", filepath.Join(dir, k.cert), "--evm")
		require.Equal(t, exitOK, code, out+errs)
		sh("evmctl", "ima_verify", "--key", k.der, p)
		sh("evmctl", "verify", "--key", k.der, p)
		code, out, errs = imasim("attest", "xattrs", p, "--keys", filepath.Join(dir, k.cert))
		require.Equal(t, exitOK, code, out+errs)
		require.NoError(t, os.Chmod(p, 0o750))
		require.Error(t, exec.Command("evmctl", "verify", "--key", filepath.Join(dir, k.der), p).Run(), "evmctl accepted a chmod")
		require.NoError(t, os.WriteFile(p, []byte("changed"), 0o750))
		require.Error(t, exec.Command("evmctl", "ima_verify", "--key", filepath.Join(dir, k.der), p).Run(), "evmctl accepted a changed file")
	}
	code, _, _ = imasim("attest", "sign", prog, "--key", filepath.Join(dir, "key.pem"), "--cert", filepath.Join(dir, "eccert.pem"))
	require.Equal(t, exitUsage, code)
	code, _, _ = imasim("attest", "sign", prog, "--key", filepath.Join(dir, "cert.pem"))
	require.Equal(t, exitUsage, code)
}

// attest sign --evm-key writes security.evm HMACs as the kernel does;
// attest xattrs --evm-key verifies them, and refuses a wrong key, a
// missing FS UUID, a chmod and a changed security.ima.
func TestAttestHMAC(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "prog")
	require.NoError(t, os.WriteFile(prog, []byte("program"), 0o755))
	sum := sha256.Sum256([]byte("program"))
	if err := unix.Setxattr(prog, "security.ima", append([]byte{4, 4}, sum[:]...), 0); err != nil {
		t.Skipf("cannot set security.* xattrs here: %v", err)
	}
	key, wrong, long, empty := filepath.Join(dir, "evm-key"), filepath.Join(dir, "wrong"), filepath.Join(dir, "long"), filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef"), 0o600))
	require.NoError(t, os.WriteFile(wrong, []byte("0123456789abcdef0123456789abcdeX"), 0o600))
	require.NoError(t, os.WriteFile(long, make([]byte, 129), 0o600))
	require.NoError(t, os.WriteFile(empty, nil, 0o600))

	code, out, errs := imasim("attest", "sign", prog, "--evm-key", key)
	if code == exitFail && strings.Contains(errs, "unknown") {
		t.Skipf("no generation or FS UUID here: %s", errs)
	}
	require.Equal(t, exitOK, code, out+errs)
	require.Contains(t, out, "security.evm HMAC ")
	code, out, errs = imasim("attest", "xattrs", prog, "--evm-key", key)
	require.Equal(t, exitOK, code, out+errs)
	require.Contains(t, out, "security.evm  HMAC ok")

	for _, c := range [][]string{
		{"--evm-key", wrong},
		{"--evm-key", key, "--fsuuid", "none"},
		{"--evm-key", key, "--fsuuid", "00000000-0000-0000-0000-000000000001"},
		{},
	} {
		code, out, errs = imasim(append([]string{"attest", "xattrs", prog}, c...)...)
		require.Equal(t, exitFail, code, "%v: %s", c, out+errs)
		require.Contains(t, out, "security.evm  FAILED", c)
	}
	// Signed without the UUID (a kernel without EVM_ATTR_FSUUID), verified so.
	code, out, errs = imasim("attest", "sign", prog, "--evm-key", key, "--fsuuid", "none")
	require.Equal(t, exitOK, code, out+errs)
	code, out, errs = imasim("attest", "xattrs", prog, "--evm-key", key, "--fsuuid", "none")
	require.Equal(t, exitOK, code, out+errs)
	code, _, _ = imasim("attest", "xattrs", prog, "--evm-key", key)
	require.Equal(t, exitFail, code)

	require.NoError(t, os.Chmod(prog, 0o700))
	code, out, _ = imasim("attest", "xattrs", prog, "--evm-key", key, "--fsuuid", "none")
	require.Equal(t, exitFail, code, out)
	require.Contains(t, out, "security.evm  FAILED")
	require.NoError(t, os.Chmod(prog, 0o755))
	code, _, _ = imasim("attest", "xattrs", prog, "--evm-key", key, "--fsuuid", "none")
	require.Equal(t, exitOK, code)
	require.NoError(t, unix.Setxattr(prog, "security.ima", append([]byte{4, 4}, make([]byte, 32)...), 0))
	code, out, _ = imasim("attest", "xattrs", prog, "--evm-key", key, "--fsuuid", "none")
	require.Equal(t, exitFail, code, out)
	require.Contains(t, out, "security.evm  FAILED")

	for _, c := range [][]string{
		{"attest", "xattrs", prog, "--evm-key", long},
		{"attest", "xattrs", prog, "--evm-key", empty},
		{"attest", "xattrs", prog, "--evm-key", key, "--fsuuid", "zz"},
		{"attest", "sign", prog, "--evm-key", long},
		{"attest", "sign", prog, "--evm-key", key, "--evm"},
		{"attest", "sign", prog},
	} {
		code, out, errs = imasim(c...)
		require.Equal(t, exitUsage, code, "%v: %s", c, out+errs)
	}
}
