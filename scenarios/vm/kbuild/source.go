package kbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/imasim/imasim/scenarios/vm"
)

// source is a resolved --source: its identity (the cache key part) and
// how to get the pristine tree.
type source struct {
	id, version string
	tree        func(context.Context) (string, error)
}

func resolveSource(ctx context.Context, o Options) (*source, error) {
	if rest, ok := strings.CutPrefix(o.Source, "debian:"); ok {
		var le *vm.LockEntry
		var known []string
		for i := range o.Lock {
			known = append(known, o.Lock[i].Name)
			if o.Lock[i].Name == o.Source {
				le = &o.Lock[i]
			}
		}
		if le == nil {
			return nil, fmt.Errorf("%w: --source %s: not in kernels.lock (it has %s)", vm.ErrUsage, o.Source, strings.Join(known, ", "))
		}
		pkg := "linux-source-" + rest
		dir := filepath.Join(o.Cache, "source", rest+"_"+le.Version)
		return &source{id: "debian " + pkg + "=" + le.Version, version: le.Version,
			tree: func(ctx context.Context) (string, error) { return debianTree(ctx, pkg, le.Version, dir, o.Log) }}, nil
	}
	st, err := os.Stat(o.Source)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("%w: --source %s: want debian:6.1|debian:6.12|debian:7.2 or a kernel tree directory", vm.ErrUsage, o.Source)
	}
	if _, err := os.Stat(filepath.Join(o.Source, "Makefile")); err != nil {
		return nil, fmt.Errorf("%w: --source %s: no Makefile (not a kernel tree)", vm.ErrUsage, o.Source)
	}
	abs, _ := filepath.Abs(o.Source)
	id, version, files, err := treeID(ctx, abs)
	if err != nil {
		return nil, err
	}
	return &source{id: id, version: version, tree: func(ctx context.Context) (string, error) {
		return snapshotTree(ctx, abs, files, filepath.Join(o.Cache, "source", "tree-"+shortSum(id)), o.Log)
	}}, nil
}

func shortSum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:10])
}

// debianTree unpacks linux-source-X.Y=VERSION into dir/tree once.
func debianTree(ctx context.Context, pkg, version, dir string, log io.Writer) (string, error) {
	tree := filepath.Join(dir, "tree")
	if _, err := os.Stat(filepath.Join(tree, "Makefile")); err == nil {
		return tree, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", fmt.Errorf("%w: apt-get not found (needed to download %s)", vm.ErrCannotRun, pkg)
	}
	mad, _ := exec.CommandContext(ctx, "apt-cache", "madison", pkg).Output()
	var have []string
	found := false
	for _, l := range strings.Split(string(mad), "\n") {
		p := strings.Split(l, "|")
		if len(p) >= 2 {
			v := strings.TrimSpace(p[1])
			have = append(have, v)
			found = found || v == version
		}
	}
	if !found {
		if len(have) == 0 {
			have = []string{"none"}
		}
		return "", fmt.Errorf("%w: %s %s (the version in kernels.lock) is not in the apt archive; it has: %s", vm.ErrCannotRun, pkg, version, strings.Join(have, ", "))
	}
	dl := dir + ".download"
	os.RemoveAll(dl)
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return "", fmt.Errorf("kernel cache: %w", err)
	}
	defer os.RemoveAll(dl)
	fmt.Fprintf(log, "imasim kernel build: apt-get download %s=%s (in %s)\n", pkg, version, dl)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg+"="+version)
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%w: apt-get download %s=%s: %v\n%s", vm.ErrCannotRun, pkg, version, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dl, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("%w: apt-get download %s: want one .deb, got %d", vm.ErrCannotRun, pkg, len(debs))
	}
	root := filepath.Join(dl, "root")
	if err := vm.ExtractDeb(debs[0], root); err != nil {
		return "", err
	}
	tars, _ := filepath.Glob(filepath.Join(root, "usr/src", pkg+".tar.*"))
	if len(tars) != 1 {
		return "", fmt.Errorf("%s: want usr/src/%s.tar.*, found %d", debs[0], pkg, len(tars))
	}
	fmt.Fprintf(log, "imasim kernel build: unpacking %s\n", filepath.Base(tars[0]))
	x := filepath.Join(dl, "x")
	if err := os.MkdirAll(x, 0o755); err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "tar", "-xf", tars[0], "-C", x, "--no-same-owner").CombinedOutput(); err != nil {
		return "", fmt.Errorf("unpacking %s: %v\n%s", tars[0], err, out)
	}
	ents, _ := os.ReadDir(x)
	if len(ents) != 1 || !ents[0].IsDir() {
		return "", fmt.Errorf("%s: want one top directory", tars[0])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	os.RemoveAll(tree)
	if err := os.Rename(filepath.Join(x, ents[0].Name()), tree); err != nil {
		return "", fmt.Errorf("kernel cache: %w", err)
	}
	return tree, nil
}

// treeID identifies a kernel tree: git HEAD plus the work tree's diff and
// untracked files, or a hash of every file's content without git. It also
// returns the files to copy (nil: every file but build outputs).
func treeID(ctx context.Context, dir string) (id, version string, files []string, err error) {
	if _, e := os.Stat(filepath.Join(dir, ".git")); e == nil {
		git := func(args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
		}
		head, err := git("rev-parse", "HEAD")
		if err != nil {
			return "", "", nil, fmt.Errorf("%w: --source %s: git rev-parse HEAD: %v", vm.ErrUsage, dir, err)
		}
		diff, err := git("diff", "--binary", "HEAD")
		if err != nil {
			return "", "", nil, fmt.Errorf("%w: --source %s: git diff: %v", vm.ErrUsage, dir, err)
		}
		ls, err := git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
		if err != nil {
			return "", "", nil, fmt.Errorf("%w: --source %s: git ls-files: %v", vm.ErrUsage, dir, err)
		}
		untracked, _ := git("ls-files", "-z", "--others", "--exclude-standard")
		h := sha256.New()
		fmt.Fprintf(h, "head %s\n", bytes.TrimSpace(head))
		h.Write(diff)
		for _, f := range strings.Split(string(untracked), "\x00") {
			if f == "" {
				continue
			}
			fmt.Fprintf(h, "untracked %s\n", f)
			if err := hashFile(h, filepath.Join(dir, f)); err != nil {
				return "", "", nil, err
			}
		}
		for _, f := range strings.Split(string(ls), "\x00") {
			if f != "" {
				files = append(files, f)
			}
		}
		v := string(bytes.TrimSpace(head))
		if len(diff) > 0 {
			v += "+dirty"
		}
		return "git " + hex.EncodeToString(h.Sum(nil)), v, files, nil
	}
	h := sha256.New()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			if rel != "." && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || buildOutput(rel) {
			return nil
		}
		files = append(files, rel)
		fmt.Fprintf(h, "file %s\n", rel)
		return hashFile(h, p)
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("%w: --source %s: %v", vm.ErrUsage, dir, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return "tree " + sum, "content " + sum[:12], files, nil
}

// buildOutput: files a kernel build writes into the tree.
func buildOutput(rel string) bool {
	b := filepath.Base(rel)
	for _, s := range []string{".o", ".a", ".ko", ".cmd", ".d", ".mod", ".order", ".symvers", ".tmp"} {
		if strings.HasSuffix(b, s) {
			return true
		}
	}
	switch rel {
	case ".config", ".config.old", "vmlinux", "System.map", "arch/x86/boot/bzImage":
		return true
	}
	return strings.HasPrefix(rel, "include/generated/") || strings.HasPrefix(rel, "include/config/") || strings.HasPrefix(rel, "arch/x86/include/generated/")
}

func hashFile(h io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

// snapshotTree copies a user's tree (the listed files) into the cache so
// the build never writes into it.
func snapshotTree(ctx context.Context, src string, files []string, dir string, log io.Writer) (string, error) {
	tree := filepath.Join(dir, "tree")
	if _, err := os.Stat(filepath.Join(tree, "Makefile")); err == nil {
		return tree, nil
	}
	fmt.Fprintf(log, "imasim kernel build: copying %d files of %s into the cache\n", len(files), src)
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	sort.Strings(files)
	for _, f := range files {
		if ctx.Err() != nil {
			os.RemoveAll(tmp)
			return "", ctx.Err()
		}
		if !filepath.IsLocal(f) {
			continue
		}
		sp, dp := filepath.Join(src, f), filepath.Join(tmp, "tree", f)
		fi, err := os.Lstat(sp)
		if err != nil {
			continue // deleted in the work tree
		}
		if err := os.MkdirAll(filepath.Dir(dp), 0o755); err != nil {
			os.RemoveAll(tmp)
			return "", err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(sp)
			err = os.Symlink(t, dp)
		case fi.Mode().IsRegular():
			err = copyFile(sp, dp)
		}
		if err != nil {
			os.RemoveAll(tmp)
			return "", err
		}
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(tmp, "tree"), tree); err != nil {
		return "", err
	}
	os.RemoveAll(tmp)
	return tree, nil
}

// copyTree copies src to dst: with linkAll (src is a pristine tree) every
// file is hard-linked; otherwise files that are hard links (a pristine
// source file, shared with the unpacked source) are linked again, every
// other file (objects, patched sources) is copied with its mode and
// mtime, so make sees exactly what it left and a patch applied afterwards
// rebuilds only what depends on it.
func copyTree(ctx context.Context, src, dst string, linkAll bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(t, fi.Mode().Perm()|0o700)
		case fi.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, t)
		case !fi.Mode().IsRegular():
			return nil
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); linkAll || ok && st.Nlink > 1 {
			if err := os.Link(p, t); err == nil {
				return nil
			}
		}
		if err := copyFile(p, t); err != nil {
			return err
		}
		return os.Chtimes(t, fi.ModTime(), fi.ModTime())
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
}
