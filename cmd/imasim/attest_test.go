package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sharedPath finds a file of the project's shared reference files:
// $IMASIM_SHARED/REL, else shared/REL in the nearest directory above the
// working directory that has it (CI puts shared/ beside the clone).
func sharedPath(t *testing.T, rel string) string {
	t.Helper()
	if d := os.Getenv("IMASIM_SHARED"); d != "" {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err != nil {
			t.Skipf("shared file: %v", err)
		}
		return p
	}
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		p := filepath.Join(dir, "shared", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Skipf("shared/%s not found above the working directory (set IMASIM_SHARED)", rel)
		}
		dir = up
	}
}

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

	code, _, _ = imasim("attest", "no-such-scenario")
	require.Equal(t, exitUsage, code)
	code, _, _ = imasim("attest", "xfs-write", "--fail-on", "excessive")
	require.Equal(t, exitUsage, code)
}
