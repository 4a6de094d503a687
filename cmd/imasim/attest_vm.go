package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2/transport"

	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/keylime"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm"
	"github.com/imasim/imasim/scenarios/vm/kbuild"
	"github.com/imasim/imasim/tpm"
	"github.com/imasim/imasim/tpm/attest"
	"github.com/imasim/imasim/tpm/eventlog"
)

// vmAttestScript runs the scenario's exported reproducer (policy loaded),
// then quotes PCR 10 with the guest's TPM (the boot's swtpm, through
// /dev/tpmrm0) using the guest agent's own imasim, and prints the quote,
// the list and the firmware event log in base64 sections. With a third
// argument, the guest's TPM activates that credential file and prints
// the secret.
const vmAttestScript = `#!/bin/sh
sh /imasim-run/repro.sh --load-policy >/tmp/repro.out 2>&1
echo "== repro-exit $?"
if ! /imasim attest quote --tpm device:/dev/tpmrm0 --select sha1:10+sha256:10 --nonce "$1" --ak "$2" -o /tmp/q >/tmp/q.out 2>&1; then
	echo "== quote-failed"; cat /tmp/q.out; exit 1
fi
for f in quote.msg quote.sig quote.pcrs ak.pub.pem; do echo "== $f"; base64 /tmp/q/$f; done
if [ -n "${3:-}" ]; then
	if /imasim attest activate-credential "$3" --tpm device:/dev/tpmrm0 --ak "$2" -o /tmp/secret >/tmp/a.out 2>&1; then
		echo "== activated"; base64 /tmp/secret
	else
		echo "== activate-failed"; cat /tmp/a.out
	fi
fi
echo "== binary_runtime_measurements"; base64 /sys/kernel/security/ima/binary_runtime_measurements
if [ -r /sys/kernel/security/tpm0/binary_bios_measurements ]; then
	echo "== binary_bios_measurements"; base64 /sys/kernel/security/tpm0/binary_bios_measurements
fi
echo "== repro.out"; base64 /tmp/repro.out
`

// attestVM is attest SCENARIO --kernel K: the scenario on a real kernel
// under QEMU (its exported shell reproducer), quoted by the guest's swtpm,
// verified on the host against the policy of the files as first installed
// (from the model run of the same steps, which also gives the content on
// disk at the end: the steps write it, the kernel only measures).
func attestVM(ctx context.Context, s *scenarios.Scenario, kernel string, kind attest.KeyType, dir string, enrol *ekTrust, swtpmCA string, stderr io.Writer) (*attestRun, int) {
	fail := func(code int, err error) (*attestRun, int) {
		fmt.Fprintf(stderr, "imasim attest: %s on %s: %v\n", s.Name, kernel, err)
		return nil, code
	}
	entriesLock, lockSrc, err := vm.LoadLock("")
	if err != nil {
		return fail(exitUsage, err)
	}
	fetcher := &vm.Fetcher{Cache: vm.DefaultCache(), Lock: entriesLock, Log: stderr}
	var k *vm.Kernel
	switch {
	case vm.DefaultCache() == "":
		return fail(exitUsage, fmt.Errorf("no kernel cache directory: HOME and XDG_CACHE_HOME are unset"))
	case strings.HasPrefix(kernel, "debian:"):
		k, err = fetcher.Fetch(ctx, kernel)
	case strings.HasPrefix(kernel, "built:"):
		k, err = kbuild.Built(ctx, kernel, vm.DefaultCache())
	default:
		k, err = vm.LocalKernel(ctx, kernel, "", vm.DefaultCache())
	}
	if err != nil {
		return fail(errCode(err), err)
	}
	p, _, err := pickProfile(ctx, "auto", k)
	if err != nil {
		return fail(exitUsage, err)
	}
	run := &attestRun{Scenario: s.Name, Profile: p.Name, Kernel: k.Release}
	algo, err := measure.ParseAlgo(p.HashAlgo)
	if err != nil {
		return fail(exitUsage, err)
	}
	// The exported reproducer writes an executable (mode with x, not a #!
	// script) as a copy of true(1) followed by the scenario's content
	// (scenarios/export.go, write_exec); the guest's true(1) is the host's
	// (vm --tools). Truncating such a file is not followed here.
	elf, err := os.ReadFile("/usr/bin/true")
	if err != nil {
		return fail(exitCannot, fmt.Errorf("true(1), which the reproducer copies: %w", err))
	}
	prefixed := map[string]bool{}
	digest := func(st scenarios.Step, path string, content []byte) string {
		if w, ok := st.Op.(scenarios.Write); ok && w.Path == path {
			prefixed[path] = w.Mode&0o111 != 0 && !strings.HasPrefix(w.Data, "#!")
		}
		if prefixed[path] {
			return hashHex(algo, append(append([]byte(nil), elf...), content...))
		}
		return hashHex(algo, content)
	}
	m, err := runModel(ctx, s, p, tpm.NewSoftware(), algo, digest)
	if err != nil {
		return fail(exitUsage, err)
	}
	if m.na != "" {
		run.NA = m.na
		return run, exitOK
	}
	run.ModelMissed = m.res.Count(scenarios.Missed)

	var repro bytes.Buffer
	if err := scenarios.ExportShell(&repro, s, scenarios.ExportOptions{}); err != nil {
		return fail(exitUsage, err)
	}
	work, err := os.MkdirTemp("", "imasim-attest-vm-")
	if err != nil {
		return fail(exitCannot, err)
	}
	defer os.RemoveAll(work)
	script := filepath.Join(work, "attest.sh")
	if err := os.WriteFile(script, []byte(vmAttestScript), 0o755); err != nil {
		return fail(exitCannot, err)
	}
	nonce := newNonce()
	kr := kernelRun{ctx: ctx, fetcher: fetcher, cacheDir: vm.DefaultCache(), lockSrc: lockSrc, mode: "run",
		sc: scriptOpts{script: script, args: []string{hex.EncodeToString(nonce), string(kind)},
			tools: vm.DefaultTools, load: vm.ScriptModules,
			files: []vm.File{{Dst: "/imasim-run/repro.sh", Data: repro.Bytes(), Mode: 0o755}}},
		// bios: the quote is checked against the firmware's event log,
		// which a direct boot does not have.
		opts: vm.Options{Boot: 90 * time.Second, Idle: 60 * time.Second, Total: 10 * time.Minute, BootMode: "bios"}}
	// With an EK CA, the guest's TPM is manufactured here first (swtpm_setup
	// with the local CA): the host, as the verifier, checks its EK
	// certificate and seals a credential to the AK the guest will quote
	// with (a primary key: the same in the guest); the guest's TPM must
	// activate it.
	var en *enrolment
	var secret []byte
	if enrol != nil {
		state := filepath.Join(work, "tpmstate")
		t, c, code := openTPMForQuote(ctx, "attest", "swtpm", tpm.Options{EKCA: swtpmCA, SwtpmState: state}, stderr)
		if t == nil {
			return nil, code
		}
		err := c.Command(func(tt transport.TPM) error {
			if enrol.roots == nil {
				var err error
				if enrol.roots, enrol.inter, err = readCAs(ctx, enrol.ca); err != nil {
					return err
				}
			}
			var err error
			en, secret, err = enrolBegin(tt, kind, enrol.roots, enrol.inter)
			return err
		})
		t.Close()
		if err != nil {
			return fail(exitFail, err)
		}
		run.EK = en.certStatus(enrol.roots)
		if en.certErr == nil {
			kr.sc.files = append(kr.sc.files, vm.File{Dst: "/imasim-run/cred.out", Data: attest.MarshalCredential(en.cred)})
			kr.sc.args = append(kr.sc.args, "/imasim-run/cred.out")
		}
		kr.opts.TPMState = state
	}
	var out bytes.Buffer
	code := kr.run(kernel, &out, stderr)
	if ctx.Err() != nil {
		return fail(exitInconcl, ctx.Err())
	}
	sections := splitSections(out.String())
	if _, failed := sections["quote-failed"]; failed || code != exitOK {
		return fail(exitCannot, fmt.Errorf("the guest script failed (exit %d): %s", code, strings.TrimSpace(out.String())))
	}
	fmt.Fprintf(stderr, "imasim attest: reproducer in the guest exited %s\n", strings.TrimSpace(sections["repro-exit"]))

	keep := dir != ""
	if !keep {
		dir = filepath.Join(work, "out")
	} else {
		run.Dir = dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(exitCannot, err)
	}
	for _, name := range []string{"quote.msg", "quote.sig", "quote.pcrs", "ak.pub.pem", "binary_runtime_measurements", "binary_bios_measurements", "repro.out"} {
		b64, ok := sections[name]
		if !ok {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
		if err != nil {
			return fail(exitFail, fmt.Errorf("guest output, section %s: %w", name, err))
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fail(exitCannot, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "nonce"), []byte(hex.EncodeToString(nonce)+"\n"), 0o644)
	if en != nil && en.certErr == nil {
		if out, failed := sections["activate-failed"]; failed {
			en.check(nil, secret, fmt.Errorf("%w: %s", attest.ErrCredential, strings.TrimSpace(out)))
		} else {
			got, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(sections["activated"]), ""))
			en.check(got, secret, err)
		}
		run.EK += "; credential " + en.credStatus(kind) + " (in the guest, through /dev/tpmrm0)"
	}
	entries, err := readEntries(filepath.Join(dir, "binary_runtime_measurements"))
	if err != nil {
		return fail(exitFail, fmt.Errorf("the guest's list: %w", err))
	}

	// The reproducer works under a fresh directory: map the scenario's
	// paths to the names the kernel listed (same suffix).
	listed := map[string]string{}
	for _, e := range entries {
		name, ok := e.FileName()
		if !ok {
			continue
		}
		for _, path := range m.order {
			if strings.HasSuffix(name, path) && strings.HasPrefix(name, "/") {
				listed[path] = name
			}
		}
	}
	nameOf := func(p string) string {
		if n, ok := listed[p]; ok {
			return n
		}
		return p
	}
	pol := keylime.Empty()
	pol.Meta.Generator = keylime.GeneratorLegacyAllowList
	pol.Meta.Timestamp, pol.Meta.HasTime = keylime.PythonTime(time.Now()), true
	if len(entries) > 0 {
		if _, d, ok := entries[0].FileDigest(); ok {
			pol.Digests.Add("boot_aggregate", hex.EncodeToString(d))
		}
	}
	for _, path := range m.order {
		pol.Digests.Add(nameOf(path), m.files[path].Installed)
	}
	polFile := filepath.Join(dir, "runtime-policy.json")
	if err := os.WriteFile(polFile, pol.Marshal(), 0o644); err != nil {
		return fail(exitCannot, err)
	}
	pol2, err := readPolicy(ctx, polFile)
	if err != nil {
		return fail(exitFail, err)
	}
	ev, err := attest.ReadDir(dir, "")
	if err != nil {
		return fail(exitFail, fmt.Errorf("the guest's quote: %w", err))
	}
	name := polFile
	if !keep {
		name = "the policy of the files as first installed"
	}
	v, err := verifyAll(ev, nonce, entries, tpm.IMAPCR, pol2, name, nil)
	if err != nil {
		return fail(exitFail, err)
	}
	run.Verify = v
	if en != nil && en.ok() {
		if k, ok := ev.AK.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(en.akKey) {
			en.credErr = errors.New("the quote is signed by another AK than the enrolled one")
			run.EK = "FAILED: " + en.credErr.Error()
		}
	}
	if en != nil && !en.ok() {
		v.OK = false
	}

	// boot_aggregate against the firmware's event log.
	if b, err := os.ReadFile(filepath.Join(dir, "binary_bios_measurements")); err == nil && len(entries) > 0 {
		l, err := eventlog.Parse(b)
		if err == nil {
			var want []byte
			var a measure.Algo
			want, a, err = l.CheckList(entries[0])
			if err == nil {
				run.BootAggregate = fmt.Sprintf("%s:%x matches the guest's event log", a, want)
			}
		}
		if err != nil {
			run.BootAggregate = "MISMATCH: " + err.Error()
			v.OK = false
		}
	} else {
		run.Notes = append(run.Notes, "the guest has no binary_bios_measurements: boot_aggregate not checked")
	}
	classify(run, m, v, nameOf)
	return run, exitOK
}

// splitSections splits "== NAME" sections of the guest script's output.
func splitSections(out string) map[string]string {
	sec := map[string]string{}
	var cur string
	var b strings.Builder
	flush := func() {
		if cur != "" {
			sec[cur] = b.String()
		}
		b.Reset()
	}
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(line, "== "); ok {
			flush()
			cur, _, _ = strings.Cut(name, " ")
			if rest, ok := strings.CutPrefix(name, cur+" "); ok {
				b.WriteString(rest)
			}
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	flush()
	return sec
}
