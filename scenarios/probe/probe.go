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
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/internal/interrupt"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
)

// Options configure a probe run.
type Options struct {
	// Profile chooses the filesystem models; nil picks the profile for
	// the host kernel (cache.DetectHost), or the nearest when none fits.
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
	// QueryCookie makes every statx also request STATX_CHANGE_COOKIE. The
	// kernel hides the cookie from userspace (Linux v6.12: fs/stat.c:cp_statx)
	// but still passes the request to getattr, which then queries
	// i_version as IMA's getattr does (checked on 6.18 ext4); the model's
	// getattr asks for the cookie too.
	QueryCookie bool
	// IVersionSteps also runs every prefix of the scenario (steps 1..k,
	// each on fresh filesystems) to find the steps after which the
	// on-disk i_version departs from the model's.
	IVersionSteps bool
}

// Report is a probe run's outcome. JSON carries "schema": 1.
type Report struct {
	Schema   int    `json:"schema"`
	Scenario string `json:"scenario"`
	Kernel   string `json:"kernel"`
	Profile  string `json:"profile"`
	// KernelProfile is what --profile auto picks for the running kernel
	// ("" when no built-in fits: then Profile is the nearest);
	// KernelProfileWhy says why.
	KernelProfile    string            `json:"kernel_profile"`
	KernelProfileWhy string            `json:"kernel_profile_why"`
	Models           map[string]string `json:"models"` // fs type -> model name
	WorkDir          string            `json:"work_dir,omitempty"`
	Steps            []StepRecord      `json:"steps"`
	Mismatches       []Mismatch        `json:"mismatches"`
	IVersion         []IVersionCheck   `json:"i_version"`
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
	// statxMask is what statx asks for after each step.
	statxMask int
}

// StatxChangeCookie is STATX_CHANGE_COOKIE, kernel-internal and absent
// from the uapi headers (Linux v6.3+: include/linux/stat.h, 0x40000000).
const StatxChangeCookie = 0x40000000

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
	// The running kernel's profile choice is reported next to the
	// findings, whatever --profile said.
	det, derr := cache.DetectHost()
	if det == nil {
		return nil, fmt.Errorf("choosing the models for kernel %s: %w", kernel, derr)
	}
	choice := det.Reason
	if det.Profile == nil {
		choice = fmt.Sprintf("no built-in profile fits (%s); nearest %s", det.Reason, det.NearestName())
	}
	p := opts.Profile
	if p == nil {
		if p = det.Profile; p == nil {
			p = det.Nearest
		}
	}
	rep := &Report{Schema: 1, Scenario: s.Name, Kernel: kernel, Profile: p.Name, Models: map[string]string{},
		KernelProfile: det.ProfileName(), KernelProfileWhy: choice,
		Mismatches: []Mismatch{}, IVersion: []IVersionCheck{}}
	for _, st := range s.Steps {
		switch o := st.Op.(type) {
		case scenarios.FS:
			rep.Models[o.Type] = p.FSModel(o.Type)
		case scenarios.Overlay:
			rep.Models["overlay"] = "overlay"
		}
	}
	work := opts.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "imasim-probe-"); err != nil {
			return nil, fmt.Errorf("work directory: %w", err)
		}
		if !opts.Keep {
			// After Run unmounted everything; registered so that a second
			// Ctrl-C removes it too (last: it was registered first).
			c := interrupt.Register("remove "+work, func() error { return removeUnmounted(work) })
			defer c.Run()
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
	model.QueryCookie = opts.QueryCookie
	mask := unix.STATX_BASIC_STATS | unix.STATX_BTIME | unix.STATX_MNT_ID
	if opts.QueryCookie {
		mask |= StatxChangeCookie
	}
	pr := &prober{ctx: ctx, s: s, model: model, rep: rep, paths: TrackedPaths(s), overlay: map[string]bool{},
		realDev: map[string]string{}, prevR: map[string]RealStat{}, prevM: map[string]ModelStat{}, shown: map[string]string{},
		emptyExe: map[string]bool{}, statxMask: mask}
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

// removeUnmounted removes dir unless something is still mounted under it
// (removing then would delete files inside that filesystem).
func removeUnmounted(dir string) error {
	mi, err := real.ReadMountinfo()
	if err != nil {
		return fmt.Errorf("not removing %s: %w", dir, err)
	}
	for _, m := range mi {
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			return fmt.Errorf("not removing %s: %s is still mounted", dir, m.Mountpoint)
		}
	}
	return os.RemoveAll(dir)
}
