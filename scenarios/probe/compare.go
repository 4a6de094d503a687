package probe

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
)

// observe runs after each real step: the same step in the model, then
// statx and getattr of every tracked path, then the comparisons.
func (pr *prober) observe(ev real.Event) error {
	if err := pr.ctx.Err(); err != nil {
		return err // interrupted: not a host-only failure
	}
	var cr *real.CannotRunError
	if errors.As(ev.Err, &cr) {
		return ev.Err
	}
	merr := pr.model.Step(ev.Step)
	rec := StepRecord{Index: ev.Index, Line: ev.Step.Line, Text: ev.Step.Text, Note: ev.Note}
	if ev.Err != nil {
		rec.RealErr = ev.Err.Error()
	}
	if merr != nil {
		rec.ModelErr = merr.Error()
	}
	if (ev.Err == nil) != (merr == nil) {
		pr.mismatch(ev, "", CheckOutcome, outcome(merr), outcome(ev.Err))
	}
	switch o := ev.Step.Op.(type) {
	case scenarios.FS:
		pr.noteMount(o.Mount, false)
	case scenarios.Overlay:
		pr.noteMount(o.Mount, true)
	}
	pr.observeFiles(ev, &rec)
	pr.rep.Steps = append(pr.rep.Steps, rec)
	if ev.Err != nil && merr == nil {
		pr.rep.Stopped = fmt.Sprintf("line %d failed on the host only: %v", ev.Step.Line, ev.Err)
		return errStopped
	}
	return nil
}

func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return "error: " + err.Error()
}

// noteMount records the st_dev values that identify a new mount: the
// superblock's (mountinfo) and what statx reports for its root.
func (pr *prober) noteMount(mnt string, overlay bool) {
	mnt = path.Clean(mnt)
	var sx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, pr.r.Path(mnt), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_MNT_ID, &sx); err != nil {
		return
	}
	pr.realDev[fmt.Sprintf("%d:%d", sx.Dev_major, sx.Dev_minor)] = mnt
	mi, err := real.ReadMountinfo()
	if err != nil {
		return
	}
	for _, m := range mi {
		if uint64(m.ID) == sx.Mnt_id {
			pr.realDev[fmt.Sprintf("%d:%d", m.Major, m.Minor)] = mnt
		}
	}
	for _, p := range pr.paths {
		if p == mnt || strings.HasPrefix(p, mnt+"/") {
			pr.overlay[p] = overlay
		}
	}
}

func (pr *prober) observeFiles(ev real.Event, rec *StepRecord) {
	rs := map[string]RealStat{}
	ms := map[string]ModelStat{}
	for _, p := range pr.paths {
		rs[p] = pr.statReal(p)
		ms[p] = pr.statModel(p)
	}
	// Identities need every path's (dev, ino) first.
	for _, p := range pr.paths {
		r, m := rs[p], ms[p]
		if r.Exists {
			r.Identity = pr.realIdentity(p, rs)
		}
		if m.Exists {
			m.Identity = pr.modelIdentity(p, ms)
		}
		rs[p], ms[p] = r, m
		rec.Files = append(rec.Files, FileRecord{Path: p, Real: r, Model: m})
	}
	for _, p := range pr.paths {
		if r, m := rs[p], ms[p]; r.Exe && m.Exists && m.Size == 0 && !pr.prevR[p].Exists {
			pr.emptyExe[p] = true
		}
		pr.compare(ev, p, rs[p], ms[p], pr.prevR[p], pr.prevM[p])
	}
	pr.compareOrder(ev, rs, ms)
	pr.prevR, pr.prevM = rs, ms
}

func (pr *prober) statReal(p string) RealStat {
	var sx unix.Statx_t
	rp := pr.r.Path(p)
	err := unix.Statx(unix.AT_FDCWD, rp, unix.AT_SYMLINK_NOFOLLOW,
		pr.statxMask, &sx)
	if err != nil || sx.Mode&unix.S_IFMT != unix.S_IFREG {
		return RealStat{}
	}
	ns := func(t unix.StatxTimestamp) int64 { return t.Sec*1e9 + int64(t.Nsec) }
	st := RealStat{Exists: true, Dev: fmt.Sprintf("%d:%d", sx.Dev_major, sx.Dev_minor), Ino: sx.Ino, MntID: sx.Mnt_id,
		Size: int64(sx.Size), Mode: fmt.Sprintf("%04o", sx.Mode&0o7777),
		Atime: ns(sx.Atime), Ctime: ns(sx.Ctime), Mtime: ns(sx.Mtime), Attributes: attrNames(sx.Attributes & sx.Attributes_mask)}
	if sx.Mask&unix.STATX_BTIME != 0 {
		st.Btime = ns(sx.Btime)
	}
	if data, pre, err := real.ReadContent(rp, pr.r.Exe()); err == nil {
		st.Exe = pre
		st.Content = digest(data)
		if pre {
			st.Size -= int64(len(pr.r.Exe()))
		}
	}
	return st
}

func (pr *prober) statModel(p string) ModelStat {
	st, ino, err := pr.model.Stat(p)
	if err != nil {
		return ModelStat{}
	}
	ri := pr.model.W.RealInode(ino)
	return ModelStat{Exists: true, Dev: st.Dev, Ino: st.Ino, Size: int64(st.Size), Mode: fmt.Sprintf("%04o", st.Mode&0o7777),
		Atime: int64(ri.Atime), Ctime: int64(st.Ctime), Mtime: int64(st.Mtime), Content: digest(ri.Content), IVersion: ri.PeekIVersion()}
}

// realIdentity names what st_dev and st_ino point at: the scenario mount
// whose device it is, and the tracked file (not through an overlay) with
// that inode number.
func (pr *prober) realIdentity(p string, rs map[string]RealStat) string {
	r := rs[p]
	dev, ok := pr.realDev[r.Dev]
	if !ok {
		dev = "anon" // an anonymous device (overlay pseudo_dev): its number is arbitrary
	}
	ino := inoOwner(pr, r.Ino, r.Dev, func(q string) (uint64, string, bool) { o := rs[q]; return o.Ino, o.Dev, o.Exists })
	return "dev=" + dev + " ino=" + ino
}

// inoOwner names the tracked file (not through an overlay) whose inode
// number is ino, preferring one on the same device; "own" when none.
func inoOwner[D comparable](pr *prober, ino uint64, dev D, stat func(string) (uint64, D, bool)) string {
	owner, best := "own", 0
	for _, q := range pr.paths {
		qi, qd, ok := stat(q)
		if pr.overlay[q] || !ok || qi != ino {
			continue
		}
		score := 1
		if qd == dev {
			score = 2
		}
		if score > best {
			owner, best = q, score
		}
	}
	return owner
}

func (pr *prober) modelIdentity(p string, ms map[string]ModelStat) string {
	m := ms[p]
	dev, ok := pr.model.MountOf(m.Dev)
	if !ok {
		dev = "anon"
	}
	ino := inoOwner(pr, m.Ino, m.Dev, func(q string) (uint64, uint64, bool) { o := ms[q]; return o.Ino, o.Dev, o.Exists })
	return "dev=" + dev + " ino=" + ino
}

// compare checks one path after one step. State checks report when the
// difference first appears or changes; event checks (did ctime move in
// this step) report every time.
func (pr *prober) compare(ev real.Event, p string, r RealStat, m ModelStat, pr0 RealStat, pm0 ModelStat) {
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	pr.state(ev, p, CheckExists, yn(m.Exists), yn(r.Exists))
	if !r.Exists || !m.Exists {
		return
	}
	pr.state(ev, p, CheckSize, fmt.Sprint(m.Size), fmt.Sprint(r.Size))
	pr.state(ev, p, CheckContent, m.Content, r.Content)
	pr.state(ev, p, CheckMode, m.Mode, r.Mode)
	pr.state(ev, p, CheckIdentity, m.Identity, r.Identity)
	pr.state(ev, p, CheckCMOrder, "ctime "+cmpWord(m.Ctime, m.Mtime)+" mtime", "ctime "+cmpWord(r.Ctime, r.Mtime)+" mtime")
	var verity []string
	for _, a := range r.Attributes {
		if a == "verity" {
			verity = append(verity, a)
		}
	}
	pr.state(ev, p, CheckAttrs, "", strings.Join(verity, ","))
	if !pr0.Exists || !pm0.Exists {
		return
	}
	moved := func(check string, m0, m1, r0, r1 int64) {
		if (m0 != m1) != (r0 != r1) {
			pr.mismatch(ev, p, check, "changed "+yn(m0 != m1), "changed "+yn(r0 != r1))
		}
	}
	moved(CheckCtime, pm0.Ctime, m.Ctime, pr0.Ctime, r.Ctime)
	moved(CheckMtime, pm0.Mtime, m.Mtime, pr0.Mtime, r.Mtime)
	moved(CheckAtime, pm0.Atime, m.Atime, pr0.Atime, r.Atime)
}

// compareOrder compares the ctime order of every pair of tracked files
// not seen through an overlay.
func (pr *prober) compareOrder(ev real.Event, rs map[string]RealStat, ms map[string]ModelStat) {
	for i, a := range pr.paths {
		for _, b := range pr.paths[i+1:] {
			if pr.overlay[a] || pr.overlay[b] || !rs[a].Exists || !rs[b].Exists || !ms[a].Exists || !ms[b].Exists {
				continue
			}
			pr.state(ev, a+" vs "+b, CheckOrder, "ctime "+cmpWord(ms[a].Ctime, ms[b].Ctime), "ctime "+cmpWord(rs[a].Ctime, rs[b].Ctime))
		}
	}
}

func cmpWord(a, b int64) string {
	switch {
	case a < b:
		return "<"
	case a > b:
		return ">"
	}
	return "="
}

// state reports a state difference when it appears or changes.
func (pr *prober) state(ev real.Event, p, check, model, realV string) {
	key := p + "\x00" + check
	cur := ""
	if model != realV {
		cur = model + "\x00" + realV
	}
	if pr.shown[key] == cur {
		return
	}
	pr.shown[key] = cur
	if cur == "" {
		return
	}
	pr.mismatch(ev, p, check, model, realV)
}

func (pr *prober) mismatch(ev real.Event, p, check, model, realV string) {
	pr.rep.Mismatches = append(pr.rep.Mismatches, Mismatch{Step: ev.Index, Line: ev.Step.Line, Text: ev.Step.Text,
		Path: p, Check: check, Model: model, Real: realV})
}

// afterUnmount compares the on-disk i_version of every tracked file on
// a disk-backed filesystem with the model's, after a writeback.
func (pr *prober) afterUnmount(fss []real.Filesystem) error {
	pr.model.Unmount()
	for _, fs := range fss {
		if fs.Type == "btrfs" {
			pr.rep.Notes = append(pr.rep.Notes, "btrfs's on-disk inode sequence differs between identical runs "+
				"on this host (testdata/probe/README.md): treat a btrfs i_version mismatch as indeterminate")
			break
		}
	}
	for _, p := range pr.paths {
		fs, ok := owner(fss, p)
		if !ok || fs.Dev == "" || !pr.prevR[p].Exists || !pr.prevM[p].Exists {
			continue
		}
		tool := OnDiskTool(fs.Type)
		if _, err := exec.LookPath(tool); tool == "" || err != nil {
			pr.rep.Notes = append(pr.rep.Notes, fmt.Sprintf("%s: no %s to read the on-disk i_version of %s", p, tool, fs.Type))
			continue
		}
		if pr.emptyExe[p] {
			pr.rep.Notes = append(pr.rep.Notes, fmt.Sprintf("%s was created empty but carries the %d-byte executable prefix: "+
				"one data write more on the host than in the model", p, len(pr.r.Exe())))
		}
		c := IVersionCheck{Path: p, FS: fs.Type, Ino: pr.prevR[p].Ino}
		mv, err := pr.model.IVersion(p)
		if err == nil {
			c.Model = mv
			c.Disk, err = ReadOnDiskIVersion(pr.ctx, fs.Type, fs.Dev, c.Ino)
		}
		if err != nil {
			c.Err = err.Error()
		} else {
			c.Match = c.Model == c.Disk
		}
		pr.rep.IVersion = append(pr.rep.IVersion, c)
	}
	return nil
}

// owner finds the filesystem p is on (longest mountpoint prefix).
func owner(fss []real.Filesystem, p string) (real.Filesystem, bool) {
	var best real.Filesystem
	found := false
	for _, fs := range fss {
		if strings.HasPrefix(p, fs.Mountpoint+"/") && len(fs.Mountpoint) >= len(best.Mountpoint) {
			best, found = fs, true
		}
	}
	return best, found
}

// Failed reports whether the run found a mismatch (i_version included).
func (r *Report) Failed() bool {
	if len(r.Mismatches) > 0 || r.Stopped != "" {
		return true
	}
	for _, c := range r.IVersion {
		if !c.Match {
			return true
		}
	}
	return false
}

// attrNames names the statx attribute bits that are set
// (Linux: include/uapi/linux/stat.h STATX_ATTR_*).
func attrNames(a uint64) []string {
	names := []struct {
		bit  uint64
		name string
	}{
		{unix.STATX_ATTR_COMPRESSED, "compressed"}, {unix.STATX_ATTR_IMMUTABLE, "immutable"},
		{unix.STATX_ATTR_APPEND, "append"}, {unix.STATX_ATTR_NODUMP, "nodump"},
		{unix.STATX_ATTR_ENCRYPTED, "encrypted"}, {unix.STATX_ATTR_AUTOMOUNT, "automount"},
		{unix.STATX_ATTR_MOUNT_ROOT, "mount_root"}, {unix.STATX_ATTR_VERITY, "verity"},
		{unix.STATX_ATTR_DAX, "dax"},
	}
	var out []string
	for _, n := range names {
		if a&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:6])
}
