package kbuild

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/scenarios/vm"
)

// Options is one `imasim kernel build`.
type Options struct {
	Source   string // debian:X.Y or a kernel tree
	Patches  []*Patch
	Fragment Config // nil: the built-in fragment
	Name     string // "": from the last built-in patch or the source
	Profile  string // profile the kernel stands for ("": the last patch's)
	Jobs     int
	Cache    string // kernel cache (vm.DefaultCache())
	Lock     []vm.LockEntry
	Log      io.Writer // progress
}

// Meta describes a finished build (meta.json in its directory).
type Meta struct {
	Name          string      `json:"name"`
	Source        string      `json:"source"`         // debian:7.2 or the tree's path
	SourceVersion string      `json:"source_version"` // 7.2.13-1, or git HEAD
	SourceID      string      `json:"source_id"`
	Patches       []PatchMeta `json:"patches"`
	ConfigSHA256  string      `json:"config_sha256"`
	Profile       string      `json:"profile,omitempty"`
	Key           string      `json:"key"`
	Base          string      `json:"base,omitempty"` // key of the build whose objects it reused
	Release       string      `json:"release"`
	Image         string      `json:"image"`
	Dir           string      `json:"-"`
	BuiltAt       string      `json:"built_at"`
	Seconds       float64     `json:"seconds"`
	Compiled      int         `json:"compiled"` // files compiled
}

// PatchMeta is one applied patch.
type PatchMeta struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// recipe changes every cache key when the build procedure changes.
const recipe = "imasim-kbuild-1"

// BuiltDir is where builds live under the kernel cache.
func BuiltDir(cache string) string { return filepath.Join(cache, "built") }

// Tool is a program or header the build needs, with its Debian package.
type Tool struct{ Path, Package string }

// Toolchain lists what a build needs (paths starting with / are files).
var Toolchain = []Tool{
	{"gcc", "gcc"}, {"make", "make"}, {"flex", "flex"}, {"bison", "bison"}, {"bc", "bc"},
	{"perl", "perl"}, {"xz", "xz-utils"}, {"tar", "tar"}, {"patch", "patch"},
	{"/usr/include/gelf.h", "libelf-dev"}, {"/usr/include/openssl/opensslv.h", "libssl-dev"},
}

// lookPath is exec.LookPath (tests replace it).
var lookPath = exec.LookPath

// CheckToolchain returns ErrCannotRun naming the Debian packages to install.
func CheckToolchain() error {
	var miss, pkgs []string
	for _, t := range Toolchain {
		var err error
		if strings.HasPrefix(t.Path, "/") {
			_, err = os.Stat(t.Path)
		} else {
			_, err = lookPath(t.Path)
		}
		if err != nil {
			miss = append(miss, t.Path)
			pkgs = append(pkgs, t.Package)
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("%w: kernel build needs %s: apt-get install %s", vm.ErrCannotRun, strings.Join(miss, ", "), strings.Join(pkgs, " "))
	}
	return nil
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// Build builds (or finds in the cache) the kernel o describes.
func Build(ctx context.Context, o Options) (*Meta, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Fragment == nil {
		o.Fragment = FragmentConfig()
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	if o.Name == "" {
		o.Name = defaultName(o)
	}
	if !nameRe.MatchString(o.Name) {
		return nil, fmt.Errorf("%w: --name %q: letters, digits and ._+- only", vm.ErrUsage, o.Name)
	}
	if o.Profile == "" && len(o.Patches) > 0 {
		o.Profile = o.Patches[len(o.Patches)-1].Profile
	}
	src, err := resolveSource(ctx, o)
	if err != nil {
		return nil, err
	}
	keys := prefixKeys(src.id, o.Patches, FragmentSum(o.Fragment))
	key := keys[len(keys)-1]
	built := BuiltDir(o.Cache)
	dir := filepath.Join(built, key)
	if m, err := readMeta(dir); err == nil {
		return o.record(m, true)
	}
	if err := CheckToolchain(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(built, 0o755); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(built, "."+key+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if m, err := readMeta(dir); err == nil { // built meanwhile
		return o.record(m, true)
	}
	t0 := time.Now()
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	tree := filepath.Join(tmp, "tree")
	m := &Meta{Name: o.Name, Source: o.Source, SourceVersion: src.version, SourceID: src.id,
		ConfigSHA256: FragmentSum(o.Fragment), Profile: o.Profile, Key: key}
	for _, p := range o.Patches {
		m.Patches = append(m.Patches, PatchMeta{Name: p.Name, SHA256: p.Sum()})
	}
	// The longest already-built prefix of the patch stack gives the objects.
	from := -1
	for i := len(keys) - 2; i >= 0; i-- {
		if _, err := readMeta(filepath.Join(built, keys[i])); err == nil {
			from = i
			break
		}
	}
	if from >= 0 {
		m.Base = keys[from]
		fmt.Fprintf(o.Log, "imasim kernel build: reusing the objects of %s (%s)\n", keys[from], describe(o.Patches[:from]))
		if err := copyTree(ctx, filepath.Join(built, keys[from], "tree"), tree, false); err != nil {
			return nil, err
		}
	} else {
		pristine, err := src.tree(ctx)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "imasim kernel build: linking %s into %s\n", pristine, tree)
		if err := copyTree(ctx, pristine, tree, true); err != nil {
			return nil, err
		}
	}
	// keys[i] is the build with the first i patches applied.
	for _, p := range o.Patches[max(from, 0):] {
		fmt.Fprintf(o.Log, "imasim kernel build: applying %s\n", p.Name)
		if err := Apply(ctx, tree, p); err != nil {
			return nil, err
		}
	}
	logPath := filepath.Join(tmp, "build.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("build log: %w", err)
	}
	defer lf.Close()
	if from < 0 {
		fmt.Fprintln(o.Log, "imasim kernel build: configure: tinyconfig + fragment")
		if err := configure(ctx, tree, o.Fragment, lf); err != nil {
			return nil, o.failed(err, logPath, key)
		}
	}
	n, err := compile(ctx, tree, o.Jobs, lf, o.Log)
	m.Compiled = n
	if err != nil {
		return nil, o.failed(err, logPath, key)
	}
	img := filepath.Join(tmp, "bzImage")
	if err := copyFile(filepath.Join(tree, "arch/x86/boot/bzImage"), img); err != nil {
		return nil, err
	}
	if err := copyFile(filepath.Join(tree, ".config"), filepath.Join(tmp, "config")); err != nil {
		return nil, err
	}
	if m.Release, err = vm.BzImageRelease(img); err != nil {
		return nil, fmt.Errorf("built image: %w", err)
	}
	m.BuiltAt = time.Now().UTC().Format(time.RFC3339)
	m.Seconds = time.Since(t0).Seconds()
	m.Image = filepath.Join(dir, "bzImage")
	if err := writeMeta(tmp, m); err != nil {
		return nil, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	ok = true
	m.Dir = dir
	fmt.Fprintf(o.Log, "imasim kernel build: %s built in %.0fs (%d files compiled)\n", o.Name, m.Seconds, n)
	return o.record(m, false)
}

func describe(ps []*Patch) string {
	if len(ps) == 0 {
		return "no patches"
	}
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return "patches " + strings.Join(n, ", ")
}

func defaultName(o Options) string {
	if n := len(o.Patches); n > 0 {
		p := o.Patches[n-1]
		if p.Builtin {
			return p.Name
		}
		return strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p.Name), ".patch"), ".diff")
	}
	if strings.HasPrefix(o.Source, "debian:") {
		return "debian-" + strings.TrimPrefix(o.Source, "debian:")
	}
	return filepath.Base(filepath.Clean(o.Source))
}

// record points names/NAME at the build and, for a cache hit, keeps the
// name and profile the caller asked for.
func (o Options) record(m *Meta, hit bool) (*Meta, error) {
	if hit {
		fmt.Fprintf(o.Log, "imasim kernel build: cached (%s, built %s)\n", m.Key, m.BuiltAt)
		changed := false
		if o.Profile != "" && o.Profile != m.Profile {
			m.Profile, changed = o.Profile, true
		}
		if changed {
			if err := writeMeta(m.Dir, m); err != nil {
				return nil, err
			}
		}
	}
	names := filepath.Join(BuiltDir(o.Cache), "names")
	if err := os.MkdirAll(names, 0o755); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	link := filepath.Join(names, o.Name)
	tmp := link + ".new"
	os.Remove(tmp)
	if err := os.Symlink(filepath.Join("..", m.Key), tmp); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	return m, nil
}

// BuildError is a failed configure or make: the log's tail and path.
type BuildError struct {
	Err  error
	Log  string
	Tail string
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("kernel build failed: %v\n%s\nfull log: %s", e.Err, e.Tail, e.Log)
}

func (e *BuildError) Unwrap() error { return e.Err }

// failed keeps the log beside the cache (the tree is removed) and returns
// its tail.
func (o Options) failed(err error, logPath, key string) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	keep := filepath.Join(BuiltDir(o.Cache), key+".failed.log")
	if b, rerr := os.ReadFile(logPath); rerr == nil {
		os.WriteFile(keep, b, 0o644)
	}
	return &BuildError{Err: err, Log: keep, Tail: logTail(keep, 25)}
}

func logTail(p string, n int) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

func prefixKeys(srcID string, ps []*Patch, cfgSum string) []string {
	keys := make([]string, 0, len(ps)+1)
	for i := 0; i <= len(ps); i++ {
		h := sha256.New()
		fmt.Fprintf(h, "%s\nsource %s\nconfig %s\n", recipe, srcID, cfgSum)
		for _, p := range ps[:i] {
			fmt.Fprintf(h, "patch %s\n", p.Sum())
		}
		keys = append(keys, hex.EncodeToString(h.Sum(nil))[:20])
	}
	return keys
}

func readMeta(dir string) (*Meta, error) {
	b, err := readBounded(filepath.Join(dir, "meta.json"), 1<<20)
	if err != nil {
		return nil, err
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "meta.json"), err)
	}
	m.Dir = dir
	m.Image = filepath.Join(dir, "bzImage")
	if _, err := os.Stat(m.Image); err != nil {
		return nil, err
	}
	return &m, nil
}

func writeMeta(dir string, m *Meta) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, "meta.json.tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("kernel cache: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, "meta.json"))
}

// Lookup finds a build by name (built:NAME).
func Lookup(cache, name string) (*Meta, error) {
	if !nameRe.MatchString(name) {
		return nil, fmt.Errorf("%w: built:%s: not a build name", vm.ErrUsage, name)
	}
	target, err := os.Readlink(filepath.Join(BuiltDir(cache), "names", name))
	if err != nil {
		return nil, fmt.Errorf("%w: built:%s: no such build in %s (imasim kernel build --name %s ...; imasim kernel list)", vm.ErrUsage, name, BuiltDir(cache), name)
	}
	key := filepath.Base(target)
	if !regexp.MustCompile(`^[0-9a-f]{20}$`).MatchString(key) {
		return nil, fmt.Errorf("%w: built:%s: bad link %q", vm.ErrUsage, name, target)
	}
	return readMeta(filepath.Join(BuiltDir(cache), key))
}

// ForImage returns the build an image path belongs to (its directory
// holds meta.json), or nil.
func ForImage(image string) *Meta {
	m, err := readMeta(filepath.Dir(image))
	if err != nil {
		return nil
	}
	if a, _ := filepath.Abs(image); a != m.Image {
		if fa, err1 := os.Stat(a); err1 == nil {
			if fb, err2 := os.Stat(m.Image); err2 != nil || !os.SameFile(fa, fb) {
				return nil
			}
		}
	}
	return m
}

// List returns the named builds.
func List(cache string) ([]*Meta, error) {
	ents, err := os.ReadDir(filepath.Join(BuiltDir(cache), "names"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Meta
	for _, e := range ents {
		if m, err := Lookup(cache, e.Name()); err == nil {
			m.Name = e.Name()
			out = append(out, m)
		}
	}
	return out, nil
}

func lockFile(ctx context.Context, p string) (func(), error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kernel cache lock: %w", err)
	}
	for {
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
			return func() { unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// configure: tinyconfig, merge the fragment, olddefconfig, then check that
// every fragment setting survived.
func configure(ctx context.Context, tree string, frag Config, log io.Writer) error {
	fragPath := filepath.Join(tree, ".imasim.config")
	var b strings.Builder
	for k, v := range frag {
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	if err := os.WriteFile(fragPath, []byte(b.String()), 0o644); err != nil {
		return err
	}
	steps := [][]string{
		{"make", "-C", tree, "tinyconfig"},
		{filepath.Join(tree, "scripts/kconfig/merge_config.sh"), "-m", "-O", tree, filepath.Join(tree, ".config"), fragPath},
		{"make", "-C", tree, "olddefconfig"},
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		cmd.Dir = tree
		cmd.Stdout, cmd.Stderr = log, log
		fmt.Fprintf(log, "+ %s\n", strings.Join(s, " "))
		if err := cmd.Run(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%s: %w", filepath.Base(s[0])+" "+s[len(s)-1], err)
		}
	}
	f, err := os.Open(filepath.Join(tree, ".config"))
	if err != nil {
		return err
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return fmt.Errorf(".config:%v", err)
	}
	if miss := Missing(frag, cfg); len(miss) > 0 {
		fmt.Fprintf(log, "fragment settings the kernel did not take:\n  %s\n", strings.Join(miss, "\n  "))
		return fmt.Errorf("%w: the fragment asks for settings this kernel does not take: %s", vm.ErrUsage, strings.Join(miss, ", "))
	}
	return nil
}

var (
	compileRe = regexp.MustCompile(`^\s+(CC|AS|HOSTCC|CC \[M\]|AR|LD)\s+\S`)
	linkRe    = regexp.MustCompile(`^\s+LD\s+vmlinux(\.o)?$|^\s+BUILD\s+arch/x86/boot/bzImage`)
)

// compile runs make bzImage; progress lines go to progress every 15 s.
func compile(ctx context.Context, tree string, jobs int, log, progress io.Writer) (int, error) {
	cmd := exec.CommandContext(ctx, "make", "-C", tree, fmt.Sprintf("-j%d", jobs),
		"KBUILD_BUILD_USER=imasim", "KBUILD_BUILD_HOST=imasim", "bzImage")
	cmd.Dir = tree
	cmd.WaitDelay = 10 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	fmt.Fprintf(log, "+ make -C %s -j%d bzImage\n", tree, jobs)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	n := 0
	t0, last := time.Now(), time.Now()
	fmt.Fprintf(progress, "imasim kernel build: compile (make -j%d)\n", jobs)
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	linking := false
	for sc.Scan() {
		l := sc.Text()
		fmt.Fprintln(log, l)
		if compileRe.MatchString(l) && !strings.HasPrefix(strings.TrimSpace(l), "LD") && !strings.HasPrefix(strings.TrimSpace(l), "AR") {
			n++
		}
		if linkRe.MatchString(l) && !linking {
			linking = true
			fmt.Fprintf(progress, "imasim kernel build: link (%d files compiled, %.0fs)\n", n, time.Since(t0).Seconds())
		}
		if time.Since(last) > 15*time.Second {
			last = time.Now()
			fmt.Fprintf(progress, "imasim kernel build: compile: %d files (%.0fs)\n", n, time.Since(t0).Seconds())
		}
	}
	io.Copy(io.Discard, pr)
	err := <-done
	if err != nil {
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		return n, fmt.Errorf("make bzImage: %w", err)
	}
	return n, nil
}
