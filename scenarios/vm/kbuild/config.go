package kbuild

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ulikunitz/xz"

	"github.com/imasim/imasim/scenarios"
)

// Fragment is the shipped config fragment (imasim kernel config).
//
//go:embed imasim.config
var Fragment string

// Config is a kernel .config: CONFIG_X -> value ("y", "m", "\"str\"", "10").
// Options set to "is not set" are absent.
type Config map[string]string

// MaxConfig bounds a .config or an embedded config.
const MaxConfig = 4 << 20

// ParseConfig reads .config syntax: CONFIG_X=V lines, comments, blanks.
// Errors carry "LINE: ".
func ParseConfig(r io.Reader) (Config, error) {
	c := Config{}
	sc := bufio.NewScanner(io.LimitReader(r, MaxConfig+1))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	ln, n := 0, 0
	for sc.Scan() {
		ln++
		n += len(sc.Bytes()) + 1
		if n > MaxConfig {
			return nil, fmt.Errorf("%d: config larger than %d bytes", ln, MaxConfig)
		}
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || !strings.HasPrefix(k, "CONFIG_") || len(k) == len("CONFIG_") || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%d: want CONFIG_NAME=VALUE, got %q", ln, trunc(l))
		}
		c[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%d: %v", ln+1, err)
	}
	return c, nil
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// FragmentConfig is the parsed built-in fragment.
func FragmentConfig() Config {
	c, err := ParseConfig(strings.NewReader(Fragment))
	if err != nil {
		panic("imasim.config: " + err.Error()) // tested
	}
	return c
}

// FragmentSum hashes a fragment's meaning (sorted settings), so comments
// and order do not change the cache key.
func FragmentSum(c Config) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\n", k, c[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Missing lists the fragment settings that cfg does not carry (after
// olddefconfig: a dependency was not met or the option does not exist).
func Missing(fragment, cfg Config) []string {
	var out []string
	for k, v := range fragment {
		if cfg[k] != v {
			got := cfg[k]
			if got == "" {
				got = "not set"
			}
			out = append(out, fmt.Sprintf("%s=%s (got %s)", k, v, got))
		}
	}
	sort.Strings(out)
	return out
}

// GuestNeeds are the options every imasim guest needs: the agent (a
// static Go program), busybox, /init, the results channel and the TPM.
var GuestNeeds = []string{
	"CONFIG_64BIT", "CONFIG_MULTIUSER", "CONFIG_FUTEX", "CONFIG_EPOLL", "CONFIG_PROC_FS", "CONFIG_SYSFS",
	"CONFIG_BLK_DEV_INITRD", "CONFIG_DEVTMPFS", "CONFIG_BINFMT_ELF", "CONFIG_BINFMT_SCRIPT", "CONFIG_TMPFS",
	"CONFIG_SERIAL_8250", "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_VIRTIO_PCI", "CONFIG_VIRTIO_BLK",
	"CONFIG_SECURITYFS", "CONFIG_AUDIT", "CONFIG_INTEGRITY_AUDIT", "CONFIG_IMA", "CONFIG_TCG_TPM", "CONFIG_TCG_TIS",
}

// fsNeeds maps a scenario filesystem to its options.
var fsNeeds = map[string][]string{
	"xfs":     {"CONFIG_XFS_FS"},
	"ext4":    {"CONFIG_EXT4_FS"},
	"btrfs":   {"CONFIG_BTRFS_FS"},
	"overlay": {"CONFIG_OVERLAY_FS"},
	"tmpfs":   {"CONFIG_TMPFS", "CONFIG_TMPFS_XATTR"},
}

// ScenarioNeeds lists the options one scenario needs beyond GuestNeeds:
// its filesystems (requires: fs=, fs and overlay steps) and appraisal
// when its policy appraises (the guest boots with ima_appraise=log).
func ScenarioNeeds(s *scenarios.Scenario) []string {
	set := map[string]bool{}
	add := func(fs string) {
		for _, o := range fsNeeds[fs] {
			set[o] = true
		}
	}
	for _, r := range s.Requires {
		if r.Kind == "fs" {
			add(r.Value)
		}
	}
	for _, st := range s.Steps {
		switch o := st.Op.(type) {
		case scenarios.FS:
			add(o.Type)
		case scenarios.Overlay:
			add("overlay")
		}
	}
	for _, l := range s.Policy {
		if f := strings.Fields(l.Rule); len(f) > 0 && f[0] == "appraise" {
			set["CONFIG_IMA_APPRAISE"] = true
			set["CONFIG_IMA_APPRAISE_BOOTPARAM"] = true
		}
	}
	out := make([]string, 0, len(set))
	for o := range set {
		out = append(out, o)
	}
	sort.Strings(out)
	return out
}

// Lacks returns the options of need that cfg does not have. withModules:
// =m counts (the kernel comes with a modules directory).
func Lacks(cfg Config, need []string, withModules bool) []string {
	var out []string
	for _, o := range need {
		v := cfg[o]
		if v == "y" || withModules && v == "m" {
			continue
		}
		out = append(out, o)
	}
	return out
}

// ReadKernelConfig finds the configuration of a kernel image: the build's
// .config (config beside a built image), Debian's config-RELEASE or
// lib/modules/RELEASE/config, else the config embedded in the image
// (CONFIG_IKCONFIG). It returns the config and where it came from.
func ReadKernelConfig(image, modDir, release string) (Config, string, error) {
	var cands []string
	cands = append(cands, filepath.Join(filepath.Dir(image), "config"))
	if release != "" {
		cands = append(cands, filepath.Join(filepath.Dir(image), "config-"+release))
	}
	if modDir != "" {
		cands = append(cands, filepath.Join(modDir, "config"))
	}
	for _, p := range cands {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		c, err := ParseConfig(f)
		f.Close()
		if err != nil {
			return nil, p, fmt.Errorf("%s:%v", p, err)
		}
		return c, p, nil
	}
	b, err := readBounded(image, 256<<20)
	if err != nil {
		return nil, image, err
	}
	c, err := EmbeddedConfig(b)
	return c, image + " (embedded config)", err
}

func readBounded(p string, max int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %d bytes, more than %d", p, fi.Size(), max)
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// ErrNoConfig: the image carries no readable embedded config.
var ErrNoConfig = fmt.Errorf("no embedded kernel config (CONFIG_IKCONFIG) found")

var (
	ikStart = []byte("IKCFG_ST")
	ikEnd   = []byte("IKCFG_ED")
	xzMagic = []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}
	gzMagic = []byte{0x1f, 0x8b, 0x08}
)

// EmbeddedConfig extracts CONFIG_IKCONFIG's gzip'd .config from a kernel
// image: from vmlinux directly, or from a bzImage whose payload is xz or
// gzip (the decompressed size is bounded).
func EmbeddedConfig(img []byte) (Config, error) {
	if c, err := ikconfig(img); err == nil {
		return c, nil
	}
	try := func(off int, open func(io.Reader) (io.Reader, error)) (Config, bool) {
		r, err := open(bytes.NewReader(img[off:]))
		if err != nil {
			return nil, false
		}
		vmlinux, _ := io.ReadAll(io.LimitReader(r, 512<<20))
		c, err := ikconfig(vmlinux)
		return c, err == nil
	}
	for _, m := range []struct {
		magic []byte
		open  func(io.Reader) (io.Reader, error)
	}{
		{xzMagic, func(r io.Reader) (io.Reader, error) { return xz.NewReader(r) }},
		// The kernel's xz payload uses the x86 BCJ filter, which the Go
		// reader lacks: xz(1) then (xz-utils is part of the toolchain).
		{xzMagic, xzCommand},
		{gzMagic, func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }},
	} {
		for off, n := 0, 0; n < 8; n++ {
			i := bytes.Index(img[off:], m.magic)
			if i < 0 {
				break
			}
			if c, ok := try(off+i, m.open); ok {
				return c, nil
			}
			off += i + 1
		}
	}
	return nil, ErrNoConfig
}

func ikconfig(b []byte) (Config, error) {
	i := bytes.Index(b, ikStart)
	if i < 0 {
		return nil, ErrNoConfig
	}
	rest := b[i+len(ikStart):]
	if j := bytes.Index(rest, ikEnd); j >= 0 {
		rest = rest[:j]
	}
	zr, err := gzip.NewReader(bytes.NewReader(rest))
	if err != nil {
		return nil, fmt.Errorf("embedded config: %w", err)
	}
	return ParseConfig(zr)
}

func xzCommand(r io.Reader) (io.Reader, error) {
	if _, err := exec.LookPath("xz"); err != nil {
		return nil, err
	}
	cmd := exec.Command("xz", "-dc", "--single-stream")
	cmd.Stdin = r
	var out bytes.Buffer
	cmd.Stdout = &limitWriter{w: &out, n: 512 << 20}
	cmd.Run() // trailing data after the stream is not an error here
	if out.Len() == 0 {
		return nil, fmt.Errorf("xz: nothing decompressed")
	}
	return &out, nil
}

// limitWriter keeps the first n bytes and discards the rest.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return len(p), nil
	}
	q := p
	if int64(len(q)) > l.n {
		q = q[:l.n]
	}
	l.n -= int64(len(q))
	if _, err := l.w.Write(q); err != nil {
		return 0, err
	}
	return len(p), nil
}
