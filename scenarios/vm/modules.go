package vm

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ulikunitz/xz"
)

// Module is one kernel module file.
type Module struct {
	Name    string   // normalised (dashes as underscores)
	Path    string   // file on the host
	Depends []string // from modinfo depends= (or modules.dep)
}

// ModName normalises a module name or file name: "virtio_pci.ko.xz" and
// "virtio-pci" both give "virtio_pci".
func ModName(s string) string {
	s = filepath.Base(s)
	if s == "/" || s == "." || s == ".." {
		return ""
	}
	for _, suf := range []string{".xz", ".zst", ".gz"} {
		s = strings.TrimSuffix(s, suf)
	}
	s = strings.TrimSuffix(s, ".ko")
	return strings.ReplaceAll(s, "-", "_")
}

// ModuleTree indexes the modules under a modules directory
// (lib/modules/VERSION).
type ModuleTree struct {
	Dir     string
	Mods    map[string]*Module
	Builtin map[string]bool
}

// ScanModules walks dir for *.ko[.xz|.gz] and reads modules.builtin. The
// dependency lists come from modules.dep when present, else from each
// module's .modinfo "depends=" (what depmod itself reads).
func ScanModules(dir string) (*ModuleTree, error) {
	t := &ModuleTree{Dir: dir, Mods: map[string]*Module{}, Builtin: map[string]bool{}}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		b := filepath.Base(p)
		if strings.HasSuffix(b, ".ko") || strings.HasSuffix(b, ".ko.xz") || strings.HasSuffix(b, ".ko.gz") || strings.HasSuffix(b, ".ko.zst") {
			n := ModName(b)
			if _, dup := t.Mods[n]; !dup {
				t.Mods[n] = &Module{Name: n, Path: p}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("modules %s: %w", dir, err)
	}
	if len(t.Mods) == 0 {
		return nil, fmt.Errorf("modules %s: no kernel modules found", dir)
	}
	if b, err := readBounded(filepath.Join(dir, "modules.builtin"), maxDebEntry); err == nil {
		t.Builtin = ParseModulesBuiltin(b)
	}
	if b, err := readBounded(filepath.Join(dir, "modules.dep"), maxDebEntry); err == nil {
		deps, err := ParseModulesDep(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("modules %s: %w", dir, err)
		}
		for n, d := range deps {
			if m := t.Mods[n]; m != nil {
				m.Depends = append([]string{}, d...) // non-nil: known
			}
		}
		return t, nil
	}
	return t, nil
}

// ParseModulesBuiltin reads modules.builtin (one module path a line) as
// a set of module names.
func ParseModulesBuiltin(b []byte) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Fields(string(b)) {
		if n := ModName(l); n != "" {
			out[n] = true
		}
	}
	return out
}

// readBounded reads a file of at most limit bytes (a package's files are
// input; a bigger one is an error, not an allocation).
func readBounded(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: over %d bytes (limit)", p, limit)
	}
	return b, nil
}

// ParseModulesDep reads depmod's modules.dep ("path: dep dep ..."); it
// returns direct dependency names per module name.
func ParseModulesDep(r io.Reader) (map[string][]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep:%d: missing ':'", i+1)
		}
		var deps []string
		for _, d := range strings.Fields(v) {
			deps = append(deps, ModName(d))
		}
		out[ModName(k)] = deps
	}
	return out, nil
}

// ReadModule returns a module's ELF bytes, decompressing .ko.xz.
func ReadModule(p string) ([]byte, error) {
	raw, err := readBounded(p, maxDebEntry)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(p, ".ko") {
		return raw, nil
	}
	r, err := decompress(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if _, isXZ := r.(*xz.Reader); !isXZ && strings.HasSuffix(p, ".xz") {
		return nil, fmt.Errorf("%s: not xz data", p)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDebEntry+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if int64(len(out)) > maxDebEntry {
		return nil, fmt.Errorf("%s: over %d bytes decompressed (limit)", p, maxDebEntry)
	}
	return out, nil
}

// ModinfoDepends reads the "depends=" entry of a module's .modinfo section.
func ModinfoDepends(ko []byte) ([]string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, fmt.Errorf("module ELF: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module ELF: no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("module .modinfo: %w", err)
	}
	var deps []string
	for _, kv := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("depends=")); ok {
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, ModName(d))
				}
			}
		}
	}
	return deps, nil
}

// Resolve returns the modules needed for names, dependencies first
// (depth-first post-order, the order modprobe loads them). Names that are
// built into the kernel are skipped; unknown names are an error unless
// optional.
func (t *ModuleTree) Resolve(names []string, optional map[string]bool) ([]*Module, error) {
	var out []*Module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string, chain []string) error
	visit = func(n string, chain []string) error {
		n = ModName(n)
		switch state[n] {
		case 1:
			return fmt.Errorf("module dependency cycle: %s", strings.Join(append(chain, n), " -> "))
		case 2:
			return nil
		}
		m := t.Mods[n]
		if m == nil {
			state[n] = 2
			if t.Builtin[n] || optional[n] {
				return nil
			}
			return fmt.Errorf("module %s not found in %s (needed by %s)", n, t.Dir, strings.Join(chain, " -> "))
		}
		state[n] = 1
		if m.Depends == nil {
			ko, err := ReadModule(m.Path)
			if err != nil {
				return err
			}
			d, err := ModinfoDepends(ko)
			if err != nil {
				return fmt.Errorf("%s: %w", m.Path, err)
			}
			m.Depends = append([]string{}, d...)
		}
		deps := append([]string{}, m.Depends...)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d, append(chain, n)); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, m)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
