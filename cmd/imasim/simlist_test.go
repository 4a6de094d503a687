package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
)

// verifySimulatedList runs scenario scn under one profile with --list-out
// and checks the list against the PCRs the run printed: with `imasim list
// verify` and, if evmctl is given, with evmctl ima_measurement
// --ignore-violations (which replays a violation as 0xFF, as kernels
// extend it). It returns the list's path, "" when the scenario is n/a
// under the profile.
func verifySimulatedList(t *testing.T, dir, scn, profile, evmctl string) string {
	t.Helper()
	tag := strings.NewReplacer("/", "_", ".", "_").Replace(filepath.Base(scn) + "-" + filepath.Base(profile))
	list, ascii := filepath.Join(dir, tag+".bin"), filepath.Join(dir, tag+".txt")
	d := scenarioPCRs(t, scn, "--profile", profile, "--list-out", list, "--ascii-out", ascii)
	require.Len(t, d.Results, 1)
	if d.Results[0].NA != "" {
		require.NoFileExists(t, list)
		return ""
	}
	pcrs := d.Results[0].PCRs
	require.Len(t, pcrs, 2, "%s: PCR banks printed", tag)
	args := []string{"list", "verify", list}
	var evmArgs []string
	for _, bank := range []string{"sha1", "sha256"} {
		f := filepath.Join(dir, tag+".pcr-"+bank)
		require.NoError(t, os.WriteFile(f, []byte("PCR-10: "+pcrs[bank]+"\n"), 0o644))
		args = append(args, "--pcrs", bank+","+f)
		// evmctl 1.4 reads PCR-NN lines in sequence: give it all 24.
		var full strings.Builder
		for i := 0; i < 24; i++ {
			v := strings.Repeat("0", len(pcrs[bank]))
			if i == 10 {
				v = pcrs[bank]
			}
			fmt.Fprintf(&full, "PCR-%02d: %s\n", i, v)
		}
		ff := filepath.Join(dir, tag+".full-"+bank)
		require.NoError(t, os.WriteFile(ff, []byte(full.String()), 0o644))
		evmArgs = append(evmArgs, "--pcrs", bank+","+ff)
	}
	code, out, errs := imasim(args...)
	require.Equal(t, exitOK, code, "%s: imasim list verify:\n%s%s", tag, out, errs)
	require.Contains(t, out, "sha256: match (per-bank)", tag)
	args[2] = ascii // the ASCII list replays to the same PCRs
	code, out, errs = imasim(args...)
	require.Equal(t, exitOK, code, "%s: imasim list verify (ASCII):\n%s%s", tag, out, errs)
	require.Contains(t, out, "sha256: match (per-bank)", tag)
	if evmctl == "" {
		return list
	}
	cmd := exec.Command(evmctl, append(append([]string{"ima_measurement", "--ignore-violations"}, evmArgs...), list)...)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: evmctl ima_measurement: %s", tag, b)
	require.Contains(t, string(b), "Matched per TPM bank", "%s: evmctl: %s", tag, b)
	return list
}

// Lists with violations: the PCRs a scenario prints are those the kernel
// would have (a violation extends 0xFF in every bank), so the list
// verifies with imasim and with evmctl --ignore-violations.
func TestSimulatedViolationListsVerify(t *testing.T) {
	evmctl, err := exec.LookPath("evmctl")
	if err != nil {
		t.Log("evmctl not installed (Debian package ima-evm-utils; .ci/deps installs it): checking with imasim list verify only")
		evmctl = ""
	}
	dir := t.TempDir()
	for _, scn := range []string{"violation-tomtou", "violation-open-writers", "mmap-backing-file"} {
		viol := 0
		for _, p := range cache.Builtins() {
			list := verifySimulatedList(t, dir, scn, p.Name, evmctl)
			if list == "" || scn == "mmap-backing-file" {
				continue
			}
			viol++
			code, out, errs := imasim("list", "show", list)
			require.Equal(t, exitOK, code, errs)
			// the list shows the violation as zeros, as the kernel's does
			require.Contains(t, out, strings.Repeat("0", 40), "%s %s", scn, p.Name)
		}
		if scn != "mmap-backing-file" {
			require.NotZero(t, viol, "%s ran under no profile", scn)
		}
	}
	if evmctl == "" {
		t.Skip("evmctl not installed (Debian package ima-evm-utils; .ci/deps installs it)")
	}
}

// --list-out and --ascii-out under a profile where the scenario is n/a
// write nothing for that profile and say so (they used to panic).
func TestScenarioListOutNotApplicable(t *testing.T) {
	dir := t.TempDir()
	bin, ascii := filepath.Join(dir, "l.bin"), filepath.Join(dir, "l.txt")
	code, out, errs := imasim("scenario", "execve-check-toctou", "--profile", "6.12", "--list-out", bin, "--ascii-out", ascii)
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, out, "n/a")
	require.Contains(t, errs, "profile 6.12: not applicable")
	require.Contains(t, errs, "no list written to "+bin)
	require.NoFileExists(t, bin)
	require.NoFileExists(t, ascii)

	// with several profiles, the applicable ones still get their lists
	code, _, errs = imasim("scenario", "execve-check-toctou", "--profile", "6.12,7.1", "--list-out", bin, "--ascii-out", ascii)
	require.Equal(t, exitOK, code, errs)
	require.NoFileExists(t, bin+".6.12")
	require.FileExists(t, bin+".7.1")
	require.FileExists(t, ascii+".7.1")
	code, out, errs = imasim("list", "show", bin+".7.1")
	require.Equal(t, exitOK, code, errs)
	require.Contains(t, out, "boot_aggregate")
}

// Text output prints PCR values and list digests whole (they are what
// people paste), equal to the JSON values.
func TestScenarioTextWholeValues(t *testing.T) {
	d := scenarioPCRs(t, "violation-tomtou", "--profile", "7.1")
	code, out, errs := imasim("scenario", "violation-tomtou", "--profile", "7.1")
	require.Equal(t, exitOK, code, errs)
	for _, bank := range []string{"sha1", "sha256"} {
		v := d.Results[0].PCRs[bank]
		require.Len(t, v, map[string]int{"sha1": 40, "sha256": 64}[bank])
		require.Contains(t, out, "PCR 10 "+bank+":", bank)
		require.Regexp(t, "PCR 10 "+bank+": +"+v+"\n", out)
	}
	require.NotContains(t, out, "…", "nothing cut")
	require.Regexp(t, `\n +10 [0-9a-f]{40} ima-sig sha256:[0-9a-f]{64} /mnt/data\n`, out)
}

// simTemplates are the kernel's built-in templates
// (Linux v7.2.13: ima_template.c:builtin_templates) and simHashes the
// hashes imasim computes; the "ima" template takes only sha1.
var (
	simTemplates = []string{"ima", "ima-ng", "ima-sig", "ima-ngv2", "ima-sigv2", "ima-buf", "ima-modsig", "evm-sig"}
	simHashes    = []string{"sha1", "sha256", "sha384", "sha512", "sm3"}
)

// simProfile writes a profile that is 7.1 with another template and hash.
func simProfile(t *testing.T, dir, template, hash string) string {
	t.Helper()
	name := strings.ReplaceAll(template, "|", "_") + "-" + hash
	p := filepath.Join(dir, name+".profile")
	body := fmt.Sprintf("inherit: 7.1\nname: %s\nabout: 7.1 with template %s, hash %s\nkernels: 7.1 ..\ntemplate: %s\nhash: %s\n", name, template, hash, template, hash)
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

// Simulated lists of every template × hash, with violations
// (violation-tomtou, violation-open-writers, mmap-backing-file) and
// without (ext4-write), verify against the PCRs imasim prints: with
// imasim list verify and with the real evmctl ima_measurement
// --ignore-violations (ima-evm-utils 1.4). CI installs evmctl.
func TestSimulatedListsEveryTemplateHash(t *testing.T) {
	evmctl, err := exec.LookPath("evmctl")
	if err != nil {
		t.Skip("evmctl not installed (Debian package ima-evm-utils; .ci/deps installs it)")
	}
	dir := t.TempDir()
	for _, tmpl := range simTemplates {
		for _, h := range simHashes {
			if tmpl == "ima" && h != "sha1" {
				continue
			}
			prof := simProfile(t, dir, tmpl, h)
			for _, scn := range []string{"violation-tomtou", "violation-open-writers", "mmap-backing-file", "ext4-write"} {
				list := verifySimulatedList(t, dir, scn, prof, evmctl)
				checkListDigests(t, list, tmpl, h)
			}
		}
	}
}

// checkListDigests: every file entry of list carries a digest of hash h
// (labelled so, of its size; sha1 for the "ima" template's "d" field).
func checkListDigests(t *testing.T, list, tmpl, h string) {
	t.Helper()
	code, out, errs := imasim("list", "show", "--json", list)
	require.Equal(t, exitOK, code, errs)
	var doc struct {
		Entries []struct {
			Template string `json:"template"`
			Algo     string `json:"file_digest_algo"`
			Digest   string `json:"file_digest"`
			Name     string `json:"name"`
		} `json:"entries"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	size := map[string]int{"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64, "sm3": 32}
	files := 0
	for _, e := range doc.Entries {
		require.Equal(t, tmpl, e.Template)
		if e.Name == "boot_aggregate" {
			continue
		}
		files++
		want, wantAlgo := h, []string{h, "ima:" + h}
		if tmpl == "ima" {
			wantAlgo = []string{""}
		}
		require.Contains(t, wantAlgo, e.Algo, "%s %s %s: digest algorithm", list, tmpl, h)
		require.Len(t, e.Digest, 2*size[want], "%s %s %s: digest size", list, tmpl, h)
	}
	require.NotZero(t, files, "%s: no file entries", list)
}

// On swtpm, whatever banks it has allocated (sha384 and sha512 too), a run
// with violations prints PCRs its list replays to, per bank as 6.12+
// extend them and, under the 6.1 profiles, with sha384/sha512 in the
// fallback mode the captured Debian 6.1.176 list shows (its kernel has no
// sha512 at IMA init).
func TestSwtpmViolationListEveryBank(t *testing.T) {
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("swtpm not installed (apt-get install swtpm); CI installs it")
	}
	dir := t.TempDir()
	for _, prof := range []string{"7.1", "6.1-stable"} {
		list := filepath.Join(dir, prof+".bin")
		d := scenarioPCRs(t, "violation-open-writers", "--profile", prof, "--tpm", "swtpm", "--list-out", list)
		require.Len(t, d.Results, 1)
		args := []string{"list", "verify", list}
		for bank, v := range d.Results[0].PCRs {
			f := filepath.Join(dir, prof+"-pcr-"+bank)
			require.NoError(t, os.WriteFile(f, []byte("PCR-10: "+v+"\n"), 0o644))
			args = append(args, "--pcrs", bank+","+f)
		}
		code, out, errs := imasim(args...)
		require.Equal(t, exitOK, code, out+errs)
		for bank := range d.Results[0].PCRs {
			mode := "per-bank"
			if prof == "6.1-stable" && (bank == "sha384" || bank == "sha512") {
				mode = "fallback"
			}
			require.Contains(t, out, bank+": match ("+mode+")", prof)
		}
		t.Logf("%s: banks %d", prof, len(d.Results[0].PCRs))
	}
}
