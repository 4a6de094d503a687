package scenarios

import (
	"crypto"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/measure"
)

// Record and list emission: the hook calls of the result, the audit
// records the kernel would log, and the measurement list with its PCR
// extends.

// wasMeasured reports whether the measurement list holds path p with this
// content's digest.
func (e *engine) wasMeasured(p string, content []byte) bool {
	if e.quiet {
		for _, k := range e.listed { // "pcr/name/content"
			if strings.HasSuffix(k, "/"+p+"/"+string(content)) {
				return true
			}
		}
		return false
	}
	d := e.calcFileHash(content)
	if e.dSHA1 {
		s := sha1.Sum(content)
		d = s[:]
	}
	want := hex.EncodeToString(d)
	for _, m := range e.res.List {
		if m.Path == p && !m.Violation && (m.FileHash == want || strings.HasSuffix(m.FileHash, ":"+want)) {
			return true
		}
	}
	return false
}

// record adds a judged hook call to the result.
func (e *engine) record(hook, p string, evaluated bool, verdict, cause string) {
	e.res.Steps = append(e.res.Steps, HookCall{Index: len(e.res.Steps) + 1, Line: e.st.Line, Op: e.st.Text,
		Hook: hook, Path: p, Evaluated: evaluated, Verdict: verdict, Cause: cause})
}

// addViolation records a ToMToU or open-writers violation as
// ima_add_violation does (Linux v6.12: ima_api.c): an INTEGRITY_PCR
// record and a zero-digest list entry.
func (e *engine) addViolation(f *vfs.File, cause string) {
	e.res.Violations++
	e.res.Audit = append(e.res.Audit, AuditRecord{Type: 1804, Line: e.st.Line, Step: len(e.res.Steps), Path: f.Path,
		Text: fmt.Sprintf("type=1804 audit: pid=%d uid=0 auid=4294967295 ses=4294967295 op=invalid_pcr cause=%s comm=%q name=%q dev=%q ino=%d res=1",
			e.pid, cause, path.Base(f.Path), f.Path, f.Inode.SB.Model.Type, f.Inode.Ino)})
	e.res.Measurements++
	if e.quiet {
		return
	}
	v, err := measure.NewViolationInfo(e.p.Template, 10, e.hashAlgo, f.Path, e.fileInfo(f))
	if err == nil {
		err = e.addTemplateEntry(v)
	}
	if err != nil && e.err == nil {
		e.err = err
	}
}

// addBootAggregate adds the list's first entry (ima_add_boot_aggregate).
func (e *engine) addBootAggregate() error {
	// Linux v6.12: security/integrity/ima/ima_init.c:ima_add_boot_aggregate,
	// ima_crypto.c:ima_calc_boot_aggregate: PCRs 0-9 of the chosen bank.
	if e.quiet {
		return nil
	}
	var banks []measure.Algo
	for _, h := range e.tpm.Banks() {
		if a, ok := measure.AlgoFromCrypto(h); ok {
			banks = append(banks, a)
		}
	}
	bank, ok := measure.BootAggregateBank(banks, e.hashAlgo)
	if !ok {
		bank = e.hashAlgo
	}
	d, err := e.calcBootAggregate(banks, bank)
	if err != nil {
		return err
	}
	var fi *measure.FileInfo
	if e.dField && bank != measure.SHA1 {
		// A "d" field takes only SHA-1: the kernel computes the
		// aggregate again from the SHA-1 bank, zero without one
		// (Linux v7.2.13: ima_template_lib.c:ima_eventdigest_init).
		fi = &measure.FileInfo{SHA1: make([]byte, 20)}
		if b, _ := measure.BootAggregateBank(banks, measure.SHA1); b == measure.SHA1 {
			if fi.SHA1, err = e.calcBootAggregate(banks, b); err != nil {
				return err
			}
		}
	}
	ba, err := measure.NewFileEntryInfo(e.p.Template, 10, bank, d, "boot_aggregate", fi)
	if err != nil {
		return fmt.Errorf("boot_aggregate: %w", err)
	}
	return e.addTemplateEntry(ba)
}

// calcBootAggregate is the boot_aggregate of PCRs 0-9 of bank b, zero if the
// TPM has no such bank (no TPM: the kernel records zeros).
func (e *engine) calcBootAggregate(banks []measure.Algo, b measure.Algo) ([]byte, error) {
	ch, ok := b.CryptoHash()
	if !ok || !slices.Contains(banks, b) {
		return make([]byte, b.Size()), nil
	}
	var pcrs [][]byte
	for i := 0; i < 10; i++ {
		v, err := e.tpm.Read(i)
		if err != nil {
			return nil, fmt.Errorf("boot_aggregate: %w", err)
		}
		pcrs = append(pcrs, v[ch])
	}
	d, err := measure.BootAggregate(b, pcrs)
	if err != nil {
		return nil, fmt.Errorf("boot_aggregate: %w", err)
	}
	return d, nil
}

// addTemplateEntry adds an entry under the kernel's dedup rule and extends the PCR
// in every bank when it was added: the template hash in the bank's
// algorithm, or for a violation 0xFF over the bank's digest size while the
// list shows zeros (Linux v6.1.176, v6.12.107, v7.2.13:
// ima_queue.c:ima_add_template_entry, ima_init_digests; ima_crypto.c:
// ima_calc_field_array_hash). The captured lists of those kernels replay
// this way against their TPM (testdata/lists/kernel). A bank the kernel
// has no hash for (profile fallback-banks) gets the SHA-1 digest padded.
func (e *engine) addTemplateEntry(en *measure.Entry) error {
	if !e.res.ML.Append(en) {
		return nil
	}
	digests := map[crypto.Hash][]byte{}
	for _, h := range e.tpm.Banks() {
		a, ok := measure.AlgoFromCrypto(h)
		if !ok {
			return fmt.Errorf("tpm bank %v has no IMA hash algorithm", h)
		}
		mode := measure.PerBank
		if slices.Contains(e.p.FallbackBanks, a.String()) {
			mode = measure.Fallback
		}
		digests[h] = en.ExtendDigest(a, mode)
	}
	if err := e.tpm.Extend(en.PCR, digests); err != nil {
		return err
	}
	m := NewListEntry(en)
	m.Template = en.Template.Name // the model's lists name the template, "" for a custom format
	e.res.List = append(e.res.List, m)
	return nil
}

// storeMeasurement is ima_store_measurement (Linux v6.12: ima_api.c): a
// list entry unless the same template digest is already listed for that
// PCR (ima_queue.c:ima_add_template_entry).
func (e *engine) storeMeasurement(f *vfs.File, name string, d []byte, pcr int) {
	if e.quiet {
		var buf [20]byte
		n := strconv.AppendInt(buf[:0], int64(pcr), 10)
		if !listedHas(e.listed, n, name, d) {
			e.listed = append(e.listed, e.listEntry(n, name, d))
			e.res.Measurements++
		}
		return
	}
	en, err := measure.NewFileEntryInfo(e.p.Template, pcr, e.hashAlgo, d, name, e.fileInfo(f))
	if err == nil {
		before := e.res.ML.Len()
		err = e.addTemplateEntry(en)
		if e.res.ML.Len() > before {
			e.res.Measurements++
		}
	}
	if err != nil && e.err == nil {
		e.err = err
	}
}

// listedHas reports whether listed holds pcr+"/"+name+"/"+d, without
// building that string (a search measures millions of times).
func listedHas(listed []string, pcr []byte, name string, d []byte) bool {
	for _, l := range listed {
		if isListEntry(l, pcr, name, d) {
			return true
		}
	}
	return false
}

func isListEntry(l string, pcr []byte, name string, d []byte) bool {
	return len(l) == len(pcr)+1+len(name)+1+len(d) && l[:len(pcr)] == string(pcr) && l[len(pcr)] == '/' &&
		l[len(pcr)+1:len(pcr)+1+len(name)] == name && l[len(pcr)+1+len(name)] == '/' &&
		l[len(pcr)+2+len(name):] == string(d)
}

// listEntry returns pcr+"/"+name+"/"+d, reusing a recent one: a
// search's clones list the same few contents over and over.
func (e *engine) listEntry(pcr []byte, name string, d []byte) string {
	for _, l := range e.entries {
		if isListEntry(l, pcr, name, d) {
			return l
		}
	}
	l := string(pcr) + "/" + name + "/" + string(d)
	e.entries[e.nextEntry] = l
	e.nextEntry = (e.nextEntry + 1) % len(e.entries)
	return l
}

// auditMeasurement emits the INTEGRITY_RULE record of ima_audit_measurement
// (Linux v6.12: ima_api.c) for f with digest d, as the process uid/gid.
func (e *engine) auditMeasurement(f *vfs.File, d []byte, uid, gid uint32) {
	e.res.Audit = append(e.res.Audit, AuditRecord{Type: 1805, Line: e.st.Line, Step: len(e.res.Steps), Path: f.Path,
		Text: fmt.Sprintf("type=1805 audit: file=%q hash=\"%s:%x\" ppid=1 pid=%d auid=4294967295 uid=%d gid=%d euid=%d suid=%d fsuid=%d egid=%d sgid=%d fsgid=%d tty=(none) ses=4294967295 comm=%q exe=%q res=1",
			f.Path, e.hashAlgo, d, e.pid, uid, gid, uid, uid, uid, gid, gid, gid, path.Base(f.Path), f.Path)})
}

// readPCRs records PCR 10 of every bank in the result.
func (e *engine) readPCRs() error {
	if e.tpm == nil {
		return nil
	}
	v, err := e.tpm.Read(10)
	if err != nil {
		return fmt.Errorf("reading PCR 10: %w", err)
	}
	e.res.PCRs = map[string]string{}
	for h, d := range v {
		if a, ok := measure.AlgoFromCrypto(h); ok {
			e.res.PCRs[a.String()] = hex.EncodeToString(d)
		}
	}
	return nil
}

// auditMprotect emits ima_file_mprotect's "collect_data failed-mprotect"
// INTEGRITY_DATA record (Linux v7.2.13: ima_main.c:ima_file_mprotect ->
// integrity_audit_msg) for f's backing inode.
func (e *engine) auditMprotect(f *vfs.File, backing *vfs.Inode, m cache.Mprotect, uid uint32) {
	e.res.Audit = append(e.res.Audit, AuditRecord{Type: 1800, Line: e.st.Line, Step: len(e.res.Steps), Path: m.Name, Cause: "failed-mprotect", Res: m.Res,
		Text: fmt.Sprintf("type=1800 audit: pid=%d uid=%d auid=4294967295 ses=4294967295 op=collect_data cause=failed-mprotect comm=%q name=%q dev=%q ino=%d res=%d",
			e.pid, uid, path.Base(f.Path), m.Name, backing.SB.Model.Type, backing.Ino, m.Res)})
}

// checkExpects judges the scenario's expect lines on the run.
func (e *engine) checkExpects() {
	e.res.Expects = e.res.Observation().Judge(e.s.Expects)
}
