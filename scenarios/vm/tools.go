package vm

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/imasim/imasim/scenarios/vm/guest"
)

// File is one extra file for the initramfs: Data, the host file Src, or
// a symbolic link to Link.
type File struct {
	Dst  string // absolute path in the guest
	Src  string
	Data []byte
	Link string
	Mode uint32 // permission bits (default 0644)
}

// DefaultTools are the host programs a script boot carries besides
// busybox: what the exported reproducers and the LTP shell tests need and
// busybox lacks or gets wrong (its setpriv cannot change uids, its
// losetup has no --show, its true is itself). dash becomes the guest's sh: Debian's busybox
// ash runs its own applets before anything on PATH.
var DefaultTools = []string{"dash", "true", "mkfs.xfs", "mkfs.ext4", "mkfs.btrfs", "setpriv", "losetup", "setfattr", "getfattr",
	"/usr/bin/python3"}

// pythonModules are what the exported reproducers' python3 snippets import
// (scenarios/export.go: MMAP, EXECVE_CHECK); the guest gets the files the
// host's python loads for them, at the same paths.
var pythonModules = []string{"mmap", "ctypes", "os", "platform", "sys"}

// toolData are files a tool reads at run time.
var toolData = map[string][]string{"mkfs.ext4": {"/etc/mke2fs.conf"}}

// libDirs is where shared libraries are looked up on the host (Debian's
// multiarch layout first).
var libDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"}

// ResolveTools finds each named host program (on PATH, or a path) with
// every shared library it needs (DT_NEEDED, transitively) and its ELF
// interpreter; a program that is not ELF is copied alone, python3 comes
// with the stdlib files pythonModules need. The programs keep their host
// paths in the guest; the libraries go to guest.LibDir, which scripts
// have on LD_LIBRARY_PATH. Missing programs are returned by name, not as
// an error: a script can say TCONF for what it lacks.
func ResolveTools(names []string) (files []File, missing []string, err error) {
	seen := map[string]bool{}
	add := func(f File) {
		if !seen[f.Dst] {
			seen[f.Dst] = true
			files = append(files, f)
		}
	}
	var libs []string
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			missing = append(missing, n)
			continue
		}
		if p, err = filepath.Abs(p); err != nil {
			return nil, nil, err
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, nil, fmt.Errorf("tool %s: %w", n, err)
		}
		need, interp, err := elfNeeds(real)
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			// Not ELF (a #! script): copied as it is; its interpreter
			// must be in the guest too.
			need, interp, err = nil, "", nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("tool %s (%s): %w", n, real, err)
		}
		add(File{Dst: p, Src: real, Mode: 0o755})
		if path.Base(n) == "dash" {
			add(File{Dst: path.Join(path.Dir(p), "sh"), Link: "dash"})
		}
		if interp != "" {
			src, err := filepath.EvalSymlinks(interp)
			if err != nil {
				return nil, nil, fmt.Errorf("tool %s: interpreter %s: %w", n, interp, err)
			}
			add(File{Dst: interp, Src: src, Mode: 0o755})
		}
		libs = append(libs, need...)
		if strings.HasPrefix(path.Base(real), "python3") && interp != "" {
			mods, err := pythonFiles(p)
			if err != nil {
				return nil, nil, fmt.Errorf("tool %s: %w", n, err)
			}
			for _, m := range mods {
				src, err := filepath.EvalSymlinks(m)
				if err != nil {
					return nil, nil, fmt.Errorf("tool %s: %w", n, err)
				}
				add(File{Dst: m, Src: src, Mode: 0o644})
				if strings.HasSuffix(m, ".so") {
					need, _, err := elfNeeds(src)
					if err != nil {
						return nil, nil, fmt.Errorf("tool %s: %s: %w", n, m, err)
					}
					libs = append(libs, need...)
				}
			}
		}
		for _, d := range toolData[path.Base(n)] {
			if _, err := os.Stat(d); err == nil {
				add(File{Dst: d, Src: d, Mode: 0o644})
			}
		}
	}
	for len(libs) > 0 {
		l := libs[0]
		libs = libs[1:]
		dst := path.Join(guest.LibDir, l)
		if seen[dst] {
			continue
		}
		src, err := findLib(l)
		if err != nil {
			return nil, nil, err
		}
		need, _, err := elfNeeds(src)
		if err != nil {
			return nil, nil, fmt.Errorf("library %s: %w", src, err)
		}
		add(File{Dst: dst, Src: src, Mode: 0o755})
		libs = append(libs, need...)
	}
	return files, missing, nil
}

// pythonFiles lists the files python loads at start-up and for
// pythonModules (sources and extension modules).
func pythonFiles(py string) ([]string, error) {
	prog := "import sys, " + strings.Join(pythonModules, ", ") + "\n" +
		"for m in list(sys.modules.values()):\n" +
		"    f = getattr(m, '__file__', None)\n" +
		"    if f: print(f)\n"
	out, err := exec.Command(py, "-c", prog).Output()
	if err != nil {
		return nil, fmt.Errorf("listing its modules: %w", err)
	}
	var files []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(l, "/") {
			files = append(files, l)
		}
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

// elfNeeds returns an ELF file's DT_NEEDED entries and PT_INTERP.
func elfNeeds(p string) ([]string, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	return elfNeedsFrom(f)
}

// maxInterp bounds PT_INTERP, a path (PATH_MAX).
const maxInterp = 4096

func elfNeedsFrom(r io.ReaderAt) ([]string, string, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, "", err
	}
	interp := ""
	for _, pr := range f.Progs {
		if pr.Type == elf.PT_INTERP {
			if pr.Filesz > maxInterp {
				return nil, "", fmt.Errorf("PT_INTERP: %d bytes, over %d", pr.Filesz, maxInterp)
			}
			b := make([]byte, pr.Filesz)
			if _, err := pr.ReadAt(b, 0); err != nil {
				return nil, "", fmt.Errorf("PT_INTERP: %w", err)
			}
			interp, _, _ = strings.Cut(string(b), "\x00")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil && interp != "" {
		return nil, "", err
	}
	return libs, interp, nil
}

func findLib(name string) (string, error) {
	for _, d := range libDirs {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			return filepath.EvalSymlinks(p)
		}
	}
	return "", fmt.Errorf("shared library %s not found in %s", name, strings.Join(libDirs, ", "))
}

// dirFiles adds every regular file under the host directory src as dst/...
// (modes kept), for --file DIR.
func dirFiles(src, dst string) ([]File, error) {
	var out []File
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, File{Dst: path.Join(dst, filepath.ToSlash(rel)), Src: p, Mode: uint32(fi.Mode().Perm())})
		return nil
	})
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Dst, b.Dst) })
	return out, err
}
