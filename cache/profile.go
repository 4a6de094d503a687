package cache

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/imasim/imasim/cache/vfs"
	"github.com/imasim/imasim/internal/input"
	"github.com/imasim/imasim/measure"
)

// Collect modes: where ima_collect_measurement takes the cached version.
const (
	// CollectQueryFileInode: inode_query_iversion(file_inode(file)) — for an
	// overlay file the overlay inode, whose counter never moves
	// (6.1.64+ stable with the partial backport).
	CollectQueryFileInode = "query-file-inode"
	// CollectCookie: vfs_getattr_nosec(STATX_CHANGE_COOKIE) on the file's
	// path; 0 when the cookie is not reported (6.4–7.0).
	CollectCookie = "cookie"
	// CollectCookieElseCtime: the cookie, else ctime in ns (the v2 fallback
	// from the seed thread, never merged).
	CollectCookieElseCtime = "cookie-else-ctime"
	// CollectCookieElsePeek: the cookie, else inode_peek_iversion(real
	// inode) when IS_I_VERSION (7.1+).
	CollectCookieElsePeek = "cookie-else-peek"
)

// Stacked-filesystem check modes in process_measurement.
const (
	StackedNone = "none"
	// StackedIVersion: !IS_I_VERSION(real) || real dev/ino differ ||
	// !inode_eq_iversion(real, cached) (integrity_inode_attrs_changed).
	StackedIVersion = "iversion"
	// StackedGetattr: recompute cookie-else-ctime through getattr and
	// compare (fix v2).
	StackedGetattr = "getattr"
)

// Last-writer modes in ima_check_last_writer.
const (
	// LastWriterIVersion: !IS_I_VERSION || !inode_eq_iversion(inode, cached).
	LastWriterIVersion = "iversion"
	// LastWriterCookie: no cookie reported, or cookie != cached.
	LastWriterCookie = "cookie"
	// LastWriterCookieElseCtime: cookie, else ctime, else changed (fix v2).
	LastWriterCookieElseCtime = "cookie-else-ctime"
	// LastWriterDetect: ima_detect_file_change: cookie, else
	// !inode_eq_iversion(inode, cached) when IS_I_VERSION, else changed (7.1+).
	LastWriterDetect = "detect-file-change"
)

var switchValues = map[string][]string{
	"collect":     {CollectQueryFileInode, CollectCookie, CollectCookieElseCtime, CollectCookieElsePeek},
	"stacked":     {StackedNone, StackedIVersion, StackedGetattr},
	"last-writer": {LastWriterIVersion, LastWriterCookie, LastWriterCookieElseCtime, LastWriterDetect},
	"violations":  {ViolationsEvery, ViolationsOnce},
}

// Evidence behind a profile.
const (
	EvidenceKernel = "kernel" // run on a real kernel of its range
	EvidenceSource = "source" // read from source only
)

// Violation emission modes in ima_rdwr_violation_check.
const (
	// ViolationsEvery: ToMToU and open_writers on every qualifying open (6.1).
	ViolationsEvery = "every"
	// ViolationsOnce: IMA_MAY_EMIT_TOMTOU / IMA_EMITTED_OPENWRITERS limit
	// each to once per measurement (6.12+).
	ViolationsOnce = "once"
)

// Profile is a kernel era as data: the switches the IMA model follows,
// the filesystem model variants, and the kernel code each one cites.
type Profile struct {
	Name     string   `json:"name"`
	About    string   `json:"about"`
	Kernels  Range    `json:"kernels"`
	Examples []string `json:"examples,omitempty"`

	Collect    string `json:"collect"`
	Stacked    string `json:"stacked"`
	LastWriter string `json:"last_writer"`
	Violations string `json:"violations"`
	// OverlayUnverifiable: overlayfs sets SB_I_IMA_UNVERIFIABLE_SIGNATURE,
	// so every access through overlay re-evaluates (Linux v6.5:
	// fs/overlayfs/super.c, 18b44bc5a672).
	OverlayUnverifiable bool `json:"overlay_unverifiable"`
	// ChangeCookie: the kernel has STATX_CHANGE_COOKIE (v6.3+).
	ChangeCookie bool `json:"change_cookie"`
	// TruncateResets: IMA's path_truncate/file_truncate hooks clear
	// IMA_DONE_MASK (ima_reset_action_flags; Debian 6.12.105+, 7.2).
	TruncateResets bool `json:"truncate_resets"`
	// EVMMetadata: the stacked block also asks evm_metadata_changed() and
	// clears only IMA_APPRAISED when the metadata inode changed (6.12+).
	EVMMetadata bool `json:"evm_metadata"`
	// FS maps a filesystem type to the model variant this era uses.
	FS map[string]string `json:"fs"`
	// RemountClearsIVersion lists fs types whose remount drops SB_I_VERSION.
	RemountClearsIVersion map[string]bool `json:"remount_clears_iversion"`
	// Features maps a feature name to the kernel range that has it.
	Features map[string]Range `json:"features"`
	Template string           `json:"template"`
	HashAlgo string           `json:"hash"`
	// FallbackBanks are TPM banks whose hash the kernel cannot compute
	// when IMA starts (built as a module): they get the SHA-1 template
	// digest zero-padded, violations still 0xFF over the bank's size
	// (Linux v6.1.176: ima_crypto.c:ima_init_crypto,
	// ima_calc_field_array_hash; ima_queue.c:ima_init_digests).
	FallbackBanks []string `json:"fallback_banks,omitempty"`
	// Auto: --profile auto may pick this profile by kernel version (false
	// for patch profiles that no released kernel runs).
	Auto bool `json:"auto"`
	// Evidence: "kernel" when a real kernel of the range was run against
	// the model (captures under testdata/vm), "source" when the profile
	// was only read from kernel source or a patch.
	Evidence string `json:"evidence"`

	// Cites holds the kernel citation given for each key.
	Cites map[string]string `json:"cites"`
	// Commits holds the upstream commit behind a switch (commit.KEY
	// lines; inherited while the switch keeps its value).
	Commits map[string]Commit `json:"commits,omitempty"`
	// Source is where the profile came from ("builtin:6.13" or a path).
	Source string `json:"source"`
}

//go:embed profiles/*.profile
var builtinFS embed.FS

// ProfileError locates a profile file error.
type ProfileError struct {
	File string
	Line int
	Msg  string
}

func (e *ProfileError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// ParseProfile reads the profile file format (docs/profiles.md). inherit
// resolves "inherit:" lines; it may be nil when none are used.
func ParseProfile(r io.Reader, name string, inherit func(string) (*Profile, error)) (*Profile, error) {
	p := &Profile{FS: map[string]string{}, RemountClearsIVersion: map[string]bool{},
		Features: map[string]Range{}, Cites: map[string]string{}, Commits: map[string]Commit{}, Source: name,
		Collect: CollectCookie, Stacked: StackedIVersion, LastWriter: LastWriterCookie, Violations: ViolationsOnce,
		ChangeCookie: true, Template: "ima-ng", HashAlgo: "sha256", Auto: true}
	seen := map[string]int{}
	var base *Profile // what inherit: gave
	sc := bufio.NewScanner(r)
	ln := 0
	fail := func(f string, a ...any) error { return &ProfileError{name, ln, fmt.Sprintf(f, a...)} }
	for sc.Scan() {
		ln++
		line := sc.Text()
		cite := ""
		if i := strings.Index(line, " #"); i >= 0 {
			cite = strings.TrimSpace(line[i+2:])
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fail("want 'key: value', got %q", line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if prev, dup := seen[key]; dup {
			return nil, fail("%s given twice (first on line %d)", key, prev)
		}
		seen[key] = ln
		if cite != "" {
			p.Cites[key] = cite
		}
		switch {
		case key == "name":
			p.Name = val
		case key == "about":
			p.About = val
		case key == "kernels":
			r, err := ParseRange(val)
			if err != nil {
				return nil, fail("kernels: %v", err)
			}
			p.Kernels = r
		case key == "examples":
			p.Examples = splitComma(val)
		case key == "evidence":
			if val != EvidenceKernel && val != EvidenceSource {
				return nil, fail("evidence: want %s or %s, got %q", EvidenceKernel, EvidenceSource, val)
			}
			p.Evidence = val
		case key == "inherit":
			if ln != firstKeyLine(seen) {
				return nil, fail("inherit must be the first setting")
			}
			if inherit == nil {
				return nil, fail("inherit: not available here")
			}
			b, err := inherit(val)
			if err != nil {
				return nil, fail("inherit: %v", err)
			}
			keepSrc := p.Source
			base = b
			*p = *b.clone()
			p.Source = keepSrc
			p.Name, p.About, p.Examples, p.Kernels, p.Auto, p.Evidence = "", "", nil, Range{}, true, ""
		case switchValues[key] != nil:
			if !slices.Contains(switchValues[key], val) {
				return nil, fail("%s: unknown value %q (want one of %s)", key, val, strings.Join(switchValues[key], ", "))
			}
			switch key {
			case "collect":
				p.Collect = val
			case "stacked":
				p.Stacked = val
			case "last-writer":
				p.LastWriter = val
			case "violations":
				p.Violations = val
			}
		case key == "overlay-unverifiable" || key == "change-cookie" || key == "auto" || key == "truncate-resets" || key == "evm-metadata":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return nil, fail("%s: want true or false, got %q", key, val)
			}
			if key == "change-cookie" {
				p.ChangeCookie = b
			} else if key == "auto" {
				p.Auto = b
			} else if key == "truncate-resets" {
				p.TruncateResets = b
			} else if key == "evm-metadata" {
				p.EVMMetadata = b
			} else {
				p.OverlayUnverifiable = b
			}
		case strings.HasPrefix(key, "fs."):
			m, err := vfs.LookupModel(val)
			if err != nil {
				return nil, fail("%s: %v", key, err)
			}
			if t := strings.TrimPrefix(key, "fs."); m.Type != t {
				return nil, fail("%s: model %s is for %s, not %s", key, val, m.Type, t)
			}
			p.FS[strings.TrimPrefix(key, "fs.")] = val
		case key == "remount-clears-iversion":
			p.RemountClearsIVersion = map[string]bool{}
			for _, t := range splitComma(val) {
				if t != "none" {
					p.RemountClearsIVersion[t] = true
				}
			}
		case strings.HasPrefix(key, "feature."):
			r, err := ParseRange(val)
			if err != nil {
				return nil, fail("%s: %v", key, err)
			}
			p.Features[strings.TrimPrefix(key, "feature.")] = r
		case key == "template":
			p.Template = val
		case key == "hash":
			p.HashAlgo = val
		case key == "fallback-banks":
			p.FallbackBanks = nil
			for _, b := range splitComma(val) {
				if b == "none" {
					continue
				}
				a, err := measure.ParseAlgo(b)
				if err != nil || a == measure.SHA1 {
					return nil, fail("fallback-banks: %q is not a bank the kernel can lack a hash for (sha256, sha384, sha512, sm3)", b)
				}
				p.FallbackBanks = append(p.FallbackBanks, a.String())
			}
		case strings.HasPrefix(key, "commit."):
			k := strings.TrimPrefix(key, "commit.")
			if !commitKey(k) {
				return nil, fail("%s: %q is not a switch", key, k)
			}
			c, err := parseCommit(val, cite)
			if err != nil {
				return nil, fail("%s: %v", key, err)
			}
			p.Commits[k] = c
		default:
			return nil, fail("unknown setting %q", key)
		}
	}
	for k := range p.Commits {
		if _, ok := p.Switch(k); !ok {
			ln = seen["commit."+k]
			return nil, fail("commit.%s: the profile has no %s", k, k)
		}
	}
	// An inherited commit stays only while its switch keeps the value.
	if base != nil {
		for k := range p.Commits {
			if _, own := seen["commit."+k]; own {
				continue
			}
			now, _ := p.Switch(k)
			was, _ := base.Switch(k)
			if now != was {
				delete(p.Commits, k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, ln+1, err)
	}
	if p.Name == "" {
		return nil, &ProfileError{name, 1, "missing name:"}
	}
	if p.Kernels.Min == (KernelVersion{}) {
		return nil, &ProfileError{name, 1, "missing kernels: (the version range it stands for)"}
	}
	if err := checkTemplateHash(p); err != nil {
		ln := max(seen["hash"], seen["template"], 1)
		return nil, &ProfileError{name, ln, err.Error()}
	}
	if p.Evidence == "" {
		p.Evidence = EvidenceSource
	}
	return p, nil
}

// checkTemplateHash accepts the template and hash a kernel can boot with:
// a template it has (or a template format), a hash imasim computes, and
// for the "ima" template only sha1 or md5 (Linux v7.2.13:
// ima_template.c:ima_template_setup, ima_main.c:hash_setup).
func checkTemplateHash(p *Profile) error {
	a, err := measure.ParseFileAlgo(p.HashAlgo)
	if err != nil {
		return fmt.Errorf("hash: %v", err)
	}
	t, err := measure.LookupTemplate(p.Template)
	if err != nil {
		return fmt.Errorf("template: %v", err)
	}
	if t.IsIMA() && a != measure.SHA1 && a != measure.MD5 {
		return fmt.Errorf("template ima takes only hash sha1 or md5 (the kernel refuses ima_template=ima with %s), got %s", a, a)
	}
	return nil
}

func firstKeyLine(seen map[string]int) int {
	min := 1 << 30
	for _, l := range seen {
		if l < min {
			min = l
		}
	}
	return min
}

func (p *Profile) clone() *Profile {
	q := *p
	q.FS = copyMap(p.FS)
	q.RemountClearsIVersion = copyMap(p.RemountClearsIVersion)
	q.Features = copyMap(p.Features)
	q.Cites = copyMap(p.Cites)
	q.Commits = copyMap(p.Commits)
	q.Examples = append([]string(nil), p.Examples...)
	q.FallbackBanks = append([]string(nil), p.FallbackBanks...)
	return &q
}

func copyMap[K comparable, V any](m map[K]V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// HasFeature reports whether the whole era has feature f; partial tells
// whether only part of the era's range has it. Both are sublevel-exact: a
// feature from 6.12.105 is partial in a 6.7 .. 6.12.y profile.
func (p *Profile) HasFeature(f string) (all, partial bool) {
	r, ok := p.Features[f]
	if !ok {
		return false, false
	}
	if r.Covers(p.Kernels) {
		return true, false
	}
	return false, r.Overlaps(p.Kernels)
}

// FSModel names the filesystem model this era uses for fs type t.
func (p *Profile) FSModel(t string) string {
	if m, ok := p.FS[t]; ok {
		return m
	}
	return t
}

// Builtins returns the built-in profiles in version order.
// They are parsed once; callers must treat them as read-only.
func Builtins() []*Profile { return append([]*Profile(nil), builtins()...) }

var builtins = sync.OnceValue(parseBuiltins)

func parseBuiltins() []*Profile {
	ents, err := builtinFS.ReadDir("profiles")
	if err != nil {
		panic(err)
	}
	byName := map[string]*Profile{}
	var load func(n string, depth int) (*Profile, error)
	load = func(n string, depth int) (*Profile, error) {
		if p, ok := byName[n]; ok {
			return p, nil
		}
		if depth > 8 {
			return nil, fmt.Errorf("inherit loop at %q", n)
		}
		f, err := builtinFS.Open("profiles/" + n + ".profile")
		if err != nil {
			return nil, fmt.Errorf("no built-in profile %q", n)
		}
		defer f.Close()
		p, err := ParseProfile(f, "builtin:"+n, func(b string) (*Profile, error) { return load(b, depth+1) })
		if err != nil {
			return nil, err
		}
		byName[n] = p
		return p, nil
	}
	var out []*Profile
	for _, e := range ents {
		n := strings.TrimSuffix(e.Name(), ".profile")
		p, err := load(n, 0)
		if err != nil {
			panic(fmt.Sprintf("built-in profile %s: %v", n, err)) // tested
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kernels.Min != out[j].Kernels.Min {
			return out[i].Kernels.Min.Less(out[j].Kernels.Min)
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// BuiltinNames lists the built-in profile names in version order.
func BuiltinNames() []string {
	var ns []string
	for _, p := range Builtins() {
		ns = append(ns, p.Name)
	}
	return ns
}

// LoadProfile resolves a name (built-in) or a path to a profile file.
func LoadProfile(nameOrPath string) (*Profile, error) {
	return LoadProfileContext(context.Background(), nameOrPath)
}

// MaxInherit bounds the chain of inherit: lines below one profile.
const MaxInherit = 8

// LoadProfileContext is LoadProfile whose file reads give way when ctx
// ends. Each file is read whole (at most input.MaxProfile bytes) and
// closed before its inherit: line is followed.
func LoadProfileContext(ctx context.Context, nameOrPath string) (*Profile, error) {
	return loadProfile(ctx, nameOrPath, map[string]bool{}, 0)
}

func loadProfile(ctx context.Context, nameOrPath string, seen map[string]bool, depth int) (*Profile, error) {
	if seen[nameOrPath] {
		return nil, fmt.Errorf("inherit cycle through %s", nameOrPath)
	}
	seen[nameOrPath] = true
	for _, p := range Builtins() {
		if p.Name == nameOrPath {
			return p, nil
		}
	}
	if depth > MaxInherit {
		return nil, fmt.Errorf("%s: inherit: chain deeper than %d files", nameOrPath, MaxInherit)
	}
	if strings.ContainsAny(nameOrPath, "/.") {
		b, err := input.ReadFile(ctx, nameOrPath, input.MaxProfile)
		if err != nil {
			if os.IsNotExist(err) && !strings.Contains(nameOrPath, "/") {
				return nil, fmt.Errorf("unknown profile %q (built-in: %s)", nameOrPath, strings.Join(BuiltinNames(), ", "))
			}
			return nil, fmt.Errorf("profile: %w", err)
		}
		return ParseProfile(bytes.NewReader(b), nameOrPath, func(b string) (*Profile, error) {
			if !strings.Contains(b, "/") && !strings.HasSuffix(b, ".profile") {
				return loadProfile(ctx, b, seen, depth+1)
			}
			// A profile file is untrusted: it may name a file beside it
			// (or below), not any file on the machine.
			if path.IsAbs(b) || slices.Contains(strings.Split(b, "/"), "..") {
				return nil, fmt.Errorf("%q: want a built-in profile or a file in this profile's directory (no absolute path, no ..)", b)
			}
			return loadProfile(ctx, path.Join(path.Dir(nameOrPath), b), seen, depth+1)
		})
	}
	return nil, fmt.Errorf("unknown profile %q (built-in: %s; or give a path to a profile file)", nameOrPath, strings.Join(BuiltinNames(), ", "))
}

// ProfileFor picks the built-in profile whose kernel range contains the
// upstream version v (sublevel-exact); when several do, the narrowest wins.
// Detect also reads distribution release strings.
func ProfileFor(v KernelVersion) (*Profile, error) {
	p, near := pickProfile(v, true)
	if p == nil {
		return nil, fmt.Errorf("%w: %s (nearest: %s)", ErrNoProfile, v, near.Name)
	}
	return p, nil
}
