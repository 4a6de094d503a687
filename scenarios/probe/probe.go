// Package probe checks the filesystem models (cache/vfs) against the
// host's real filesystems. It runs a scenario's steps for real through
// scenarios/real on loop-backed XFS, ext4 and btrfs, tmpfs and overlayfs,
// records statx after every step for every file the scenario touches, runs
// the same steps through the model of the host kernel's era, and reports
// every difference userspace can see: a ctime or mtime that moved or not,
// the ctime/mtime order, size and content (lower-layer writes seen through
// an overlay), the st_dev/st_ino overlayfs reports and their change on
// copy-up. After unmounting it reads the i_version each filesystem stored
// on disk and compares it with the model's.
package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
)

// Options configure a probe run.
type Options struct {
	// Profile chooses the filesystem models; nil picks the profile for
	// the host kernel (uname -r, cache.ProfileFor).
	Profile *cache.Profile
	// WorkDir holds images and the scenario root; "" makes a temporary one.
	WorkDir string
	// Keep leaves the work directory and images in place (filesystems
	// are still unmounted and loop devices detached).
	Keep bool
	// MaxSleep caps sleep steps (real.DefaultMaxSleep when 0).
	MaxSleep time.Duration
	// Log receives a line per real action when set.
	Log io.Writer
	// Gap is the pause before each step on both sides; 0 means
	// scenarios.StepGap (10 ms), negative means none. Below the host's
	// jiffy (4 ms at HZ=250) steps share coarse timestamps, which shows
	// multigrain behaviour, but a step can straddle a tick on the host:
	// repeat a run before trusting a single ctime mismatch.
	Gap time.Duration
	// IVersionSteps also runs every prefix of the scenario (steps 1..k,
	// each on fresh filesystems) to find the steps after which the
	// on-disk i_version departs from the model's.
	IVersionSteps bool
}

// Report is a probe run's outcome. JSON carries "schema": 1.
type Report struct {
	Schema     int               `json:"schema"`
	Scenario   string            `json:"scenario"`
	Kernel     string            `json:"kernel"`
	Profile    string            `json:"profile"`
	Models     map[string]string `json:"models"` // fs type -> model name
	WorkDir    string            `json:"work_dir,omitempty"`
	Steps      []StepRecord      `json:"steps"`
	Mismatches []Mismatch        `json:"mismatches"`
	IVersion   []IVersionCheck   `json:"i_version"`
	// IVersionSteps holds, with Options.IVersionSteps, the on-disk and
	// model i_version after each prefix of the scenario.
	IVersionSteps []IVersionStep `json:"i_version_steps,omitempty"`
	Notes         []string       `json:"notes,omitempty"`
	Stopped       string         `json:"stopped,omitempty"` // why the run ended early
}

// StepRecord is one step with both sides' observations.
type StepRecord struct {
	Index    int          `json:"index"`
	Line     int          `json:"line"`
	Text     string       `json:"text"`
	RealErr  string       `json:"real_error,omitempty"`
	ModelErr string       `json:"model_error,omitempty"`
	Note     string       `json:"note,omitempty"`
	Files    []FileRecord `json:"files"`
}

// FileRecord is one path's statx and the model's getattr after a step.
type FileRecord struct {
	Path  string    `json:"path"`
	Real  RealStat  `json:"real"`
	Model ModelStat `json:"model"`
}

// RealStat is statx(2) of a path on the host.
type RealStat struct {
	Exists     bool     `json:"exists"`
	Dev        string   `json:"dev,omitempty"` // major:minor
	Ino        uint64   `json:"ino,omitempty"`
	MntID      uint64   `json:"mnt_id,omitempty"`
	Size       int64    `json:"size"` // without the executable prefix
	Mode       string   `json:"mode,omitempty"`
	Atime      int64    `json:"atime_ns,omitempty"`
	Btime      int64    `json:"btime_ns,omitempty"`
	Ctime      int64    `json:"ctime_ns,omitempty"`
	Mtime      int64    `json:"mtime_ns,omitempty"`
	Attributes []string `json:"attributes,omitempty"`
	Exe        bool     `json:"exe_prefix,omitempty"`
	Content    string   `json:"content,omitempty"` // sha256 prefix
	Identity   string   `json:"identity,omitempty"`
}

// ModelStat is the model's getattr of a path.
type ModelStat struct {
	Exists   bool   `json:"exists"`
	Dev      uint64 `json:"dev,omitempty"`
	Ino      uint64 `json:"ino,omitempty"`
	Size     int64  `json:"size"`
	Mode     string `json:"mode,omitempty"`
	Atime    int64  `json:"atime_ns,omitempty"`
	Ctime    int64  `json:"ctime_ns,omitempty"`
	Mtime    int64  `json:"mtime_ns,omitempty"`
	Content  string `json:"content,omitempty"`
	Identity string `json:"identity,omitempty"`
	IVersion uint64 `json:"i_version"` // of the real inode, peeked
}

// Mismatch is one difference between the model and the host.
type Mismatch struct {
	Step  int    `json:"step"`
	Line  int    `json:"line"`
	Text  string `json:"text"`
	Path  string `json:"path,omitempty"`
	Check string `json:"check"`
	Model string `json:"model"`
	Real  string `json:"real"`
}

// IVersionCheck compares a file's on-disk i_version with the model's.
type IVersionCheck struct {
	Path  string `json:"path"`
	FS    string `json:"fs"`
	Ino   uint64 `json:"ino"`
	Model uint64 `json:"model"`
	Disk  uint64 `json:"disk"`
	Match bool   `json:"match"`
	Err   string `json:"error,omitempty"`
}

// IVersionStep is the i_version of one file after running the scenario
// up to and including one step, then unmounting.
type IVersionStep struct {
	Step  int    `json:"step"`
	Line  int    `json:"line"`
	Text  string `json:"text"`
	Path  string `json:"path"`
	Model uint64 `json:"model"`
	Disk  uint64 `json:"disk"`
}

// Checks, as they appear in Mismatch.Check.
const (
	CheckOutcome  = "outcome"       // the step worked on one side only
	CheckExists   = "exists"        // the path exists on one side only
	CheckSize     = "size"          // st_size (lower writes through overlay)
	CheckContent  = "content"       // the bytes read through the path
	CheckMode     = "mode"          // permission bits
	CheckCtime    = "ctime-changed" // ctime moved in this step or not
	CheckMtime    = "mtime-changed"
	CheckAtime    = "atime-changed"
	CheckCMOrder  = "ctime-vs-mtime"  // ctime <, = or > mtime
	CheckIdentity = "identity"        // st_dev/st_ino (overlay mapping, copy-up)
	CheckOrder    = "ctime-order"     // ctime order between two files
	CheckAttrs    = "attributes"      // statx attributes (verity etc.)
	CheckIVersion = "i_version-delta" // on-disk counter moved differently in a step (IVersionSteps)
)

// HostKernel returns uname -r.
func HostKernel() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// Check says whether this host can probe s: root, loop devices and mkfs
// for disk-backed filesystems, overlayfs, and s's kernel requirement. It
// returns a *real.CannotRunError (TCONF) when not, and touches nothing.
func Check(s *scenarios.Scenario) error {
	if os.Geteuid() != 0 {
		return &real.CannotRunError{Reason: "imasim probe needs root (mount, loop devices, other uids)"}
	}
	types := real.DiskTypes(s)
	if len(types) > 0 {
		f, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
		if err != nil {
			return &real.CannotRunError{Reason: fmt.Sprintf("no loop devices: %v", err)}
		}
		f.Close()
	}
	for _, t := range types {
		tool := real.MkfsCommand(t)
		if tool == "" {
			return &real.CannotRunError{Reason: fmt.Sprintf("filesystem type %s: no mkfs known", t)}
		}
		if _, err := exec.LookPath(tool); err != nil {
			return &real.CannotRunError{Reason: fmt.Sprintf("%s not found (install the %s tools)", tool, t)}
		}
	}
	for _, st := range s.Steps {
		if st.Op == "overlay" && !haveFS("overlay") {
			return &real.CannotRunError{Reason: "overlayfs is not available (not in /proc/filesystems; modprobe overlay)"}
		}
	}
	for _, rq := range s.Requires {
		if rq.Kind != "kernel" {
			continue
		}
		want, err := cache.ParseKernelVersion(rq.Value)
		if err != nil {
			return err
		}
		rel, err := HostKernel()
		if err != nil {
			return err
		}
		have, err := cache.ParseKernelVersion(rel)
		if err == nil && have.Less(want) {
			return &real.CannotRunError{Reason: fmt.Sprintf("requires kernel >= %s, host runs %s", want, rel)}
		}
	}
	return nil
}

func haveFS(t string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[len(f)-1] == t {
			return true
		}
	}
	// A module may still load on mount.
	_, err = os.Stat("/sys/module/" + t)
	return err == nil || modExists(t)
}

func modExists(t string) bool {
	rel, err := HostKernel()
	if err != nil {
		return false
	}
	ms, _ := filepath.Glob("/lib/modules/" + rel + "/kernel/fs/" + t + "/*")
	return len(ms) > 0
}

// TrackedPaths lists the files s touches (every path argument of a file
// operation), plus their counterparts through each overlay and in its
// layers, sorted.
func TrackedPaths(s *scenarios.Scenario) []string {
	set := map[string]bool{}
	type ovl struct {
		mnt    string
		layers []string
	}
	var ovls []ovl
	for _, st := range s.Steps {
		switch st.Op {
		case "fs", "mkdir", "sync", "sleep", "remount", "read", "mmap", "close":
		case "overlay":
			o := ovl{mnt: path.Clean(st.Args[0]), layers: strings.Split(st.Opts["lower"], ":")}
			if u := st.Opts["upper"]; u != "" {
				o.layers = append(o.layers, u)
			}
			for i := range o.layers {
				o.layers[i] = path.Clean(o.layers[i])
			}
			ovls = append(ovls, o)
		case "open":
			set[path.Clean(st.Args[1])] = true
		case "setxattr", "truncate", "chmod", "chown":
			set[path.Clean(st.Args[0])] = true
		case "write", "append", "overwrite", "touch", "unlink", "exec", "execveat":
			if strings.HasPrefix(st.Args[0], "/") { // not a %handle
				set[path.Clean(st.Args[0])] = true
			}
		case "copy", "rename":
			set[path.Clean(st.Args[0])] = true
			set[path.Clean(st.Args[1])] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for p := range set {
			for _, o := range ovls {
				var rel string
				if r, ok := strings.CutPrefix(p, o.mnt+"/"); ok {
					rel = r
				}
				for _, l := range o.layers {
					if r, ok := strings.CutPrefix(p, l+"/"); ok {
						rel = r
					}
				}
				if rel == "" {
					continue
				}
				for _, q := range append([]string{o.mnt}, o.layers...) {
					if c := path.Join(q, rel); !set[c] {
						set[c] = true
						changed = true
					}
				}
			}
		}
	}
	var out []string
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// prober is one run's state.
type prober struct {
	ctx     context.Context
	s       *scenarios.Scenario
	model   *Model
	r       *real.Runner
	rep     *Report
	paths   []string
	overlay map[string]bool // tracked paths on an overlay mount
	realDev map[string]string
	prevR   map[string]RealStat
	prevM   map[string]ModelStat
	shown   map[string]string // path+check -> last reported state
	// emptyExe: files created empty that got the executable prefix.
	emptyExe map[string]bool
}

// errStopped ends a run after a step failed for real only.
var errStopped = errors.New("probe stopped")

// Run probes s on the host. It returns a *real.CannotRunError when the
// host cannot (see Check); other errors are failures to run, not
// mismatches, which are in the report.
func Run(ctx context.Context, s *scenarios.Scenario, opts Options) (*Report, error) {
	rep, err := runOnce(ctx, s, opts)
	if err != nil || !opts.IVersionSteps || rep.Stopped != "" {
		return rep, err
	}
	sub := *s
	prev := map[string]IVersionStep{}
	for k := 1; k <= len(s.Steps); k++ {
		sub.Steps = s.Steps[:k]
		o := opts
		o.Keep, o.WorkDir, o.Log = false, "", nil
		pre, err := runOnce(ctx, &sub, o)
		if err != nil {
			return rep, fmt.Errorf("i_version after step %d: %w", k, err)
		}
		st := s.Steps[k-1]
		for _, c := range pre.IVersion {
			if c.Err != "" {
				continue
			}
			cur := IVersionStep{Step: k - 1, Line: st.Line, Text: st.Text, Path: c.Path, Model: c.Model, Disk: c.Disk}
			rep.IVersionSteps = append(rep.IVersionSteps, cur)
			p, seen := prev[c.Path]
			dm, dd := int64(cur.Model), int64(cur.Disk)
			if seen {
				dm, dd = dm-int64(p.Model), dd-int64(p.Disk)
			}
			if dm != dd {
				rep.Mismatches = append(rep.Mismatches, Mismatch{Step: k - 1, Line: st.Line, Text: st.Text, Path: c.Path,
					Check: CheckIVersion, Model: fmt.Sprintf("%+d (to %d)", dm, cur.Model), Real: fmt.Sprintf("%+d (to %d)", dd, cur.Disk)})
			}
			prev[c.Path] = cur
		}
	}
	return rep, nil
}

func runOnce(ctx context.Context, s *scenarios.Scenario, opts Options) (*Report, error) {
	if err := Check(s); err != nil {
		return nil, err
	}
	kernel, err := HostKernel()
	if err != nil {
		return nil, err
	}
	p := opts.Profile
	if p == nil {
		v, err := cache.ParseKernelVersion(kernel)
		if err != nil {
			return nil, err
		}
		if p, err = cache.ProfileFor(v); err != nil {
			return nil, fmt.Errorf("choosing the models for kernel %s: %w", kernel, err)
		}
	}
	rep := &Report{Schema: 1, Scenario: s.Name, Kernel: kernel, Profile: p.Name, Models: map[string]string{},
		Mismatches: []Mismatch{}, IVersion: []IVersionCheck{}}
	for _, st := range s.Steps {
		if st.Op == "fs" {
			rep.Models[st.Args[0]] = p.FSModel(st.Args[0])
		}
		if st.Op == "overlay" {
			rep.Models["overlay"] = "overlay"
		}
	}
	work := opts.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "imasim-probe-"); err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
		if !opts.Keep {
			defer os.RemoveAll(work) // after Run unmounted everything (it checks)
		}
	}
	if err := os.Chmod(work, 0o755); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	root := path.Join(work, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return nil, fmt.Errorf("scenario root: %w", err)
	}
	if opts.Keep {
		rep.WorkDir = work
	} else {
		defer os.Remove(root)
	}
	gap := opts.Gap
	switch {
	case gap == 0:
		gap = time.Duration(scenarios.StepGap)
	case gap < 0:
		gap = 0
	}
	model := NewModel(p)
	model.Gap = vfs.Time(gap)
	pr := &prober{ctx: ctx, s: s, model: model, rep: rep, paths: TrackedPaths(s), overlay: map[string]bool{},
		realDev: map[string]string{}, prevR: map[string]RealStat{}, prevM: map[string]ModelStat{}, shown: map[string]string{},
		emptyExe: map[string]bool{}}
	env := real.Env{Root: root, Disks: &real.Loop{Dir: work, Keep: opts.Keep}, StepGap: gap,
		MaxSleep: opts.MaxSleep, Log: opts.Log, AfterUnmount: pr.afterUnmount}
	err = real.RunWith(ctx, s, env, func(r *real.Runner) real.Observer {
		pr.r = r
		return pr.observe
	})
	var cr *real.CannotRunError
	switch {
	case errors.As(err, &cr):
		return nil, cr
	case errors.Is(err, errStopped):
		err = nil
	}
	return rep, err
}

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
	if ev.Step.Op == "fs" || ev.Step.Op == "overlay" {
		pr.noteMount(ev.Step)
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
func (pr *prober) noteMount(st scenarios.Step) {
	mnt := st.Args[0]
	if st.Op == "fs" {
		mnt = st.Args[1]
	}
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
			pr.overlay[p] = st.Op == "overlay"
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
		unix.STATX_BASIC_STATS|unix.STATX_BTIME|unix.STATX_MNT_ID, &sx)
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
		dev = "anon(" + r.Dev + ")"
	}
	ino := "own"
	best := 0
	for _, q := range pr.paths {
		o := rs[q]
		if pr.overlay[q] || !o.Exists || o.Ino != r.Ino {
			continue
		}
		score := 1
		if o.Dev == r.Dev {
			score = 2
		}
		if score > best {
			ino, best = q, score
		}
	}
	return "dev=" + dev + " ino=" + ino
}

func (pr *prober) modelIdentity(p string, ms map[string]ModelStat) string {
	m := ms[p]
	dev, ok := pr.model.MountOf(m.Dev)
	if !ok {
		dev = fmt.Sprintf("anon(%d)", m.Dev)
	}
	ino := "own"
	for _, q := range pr.paths {
		o := ms[q]
		if !pr.overlay[q] && o.Exists && o.Ino == m.Ino && o.Dev == m.Dev {
			ino = q
			break
		}
	}
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
