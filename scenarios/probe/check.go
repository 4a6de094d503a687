package probe

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
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
		if _, ok := st.Op.(scenarios.Overlay); ok && !haveFS("overlay") {
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
		if o, ok := st.Op.(scenarios.Overlay); ok {
			ov := ovl{mnt: path.Clean(o.Mount), layers: append([]string(nil), o.Lower...)}
			if o.Upper != "" {
				ov.layers = append(ov.layers, o.Upper)
			}
			for i := range ov.layers {
				ov.layers[i] = path.Clean(ov.layers[i])
			}
			ovls = append(ovls, ov)
		}
		for _, p := range st.Touches().Files {
			set[path.Clean(p)] = true
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
