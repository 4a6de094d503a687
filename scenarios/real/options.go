package real

import (
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/scenarios"
)

// MountOptions turns scenario mount options into mount(2) flags and a
// data string: noatime, strictatime, relatime, iversion, ro, rw and
// defaults are flags; the filesystem options scenarios.MountDataOptions
// allows go to the filesystem as data, anything else is refused.
func MountOptions(opts []string) (flags uintptr, data string, err error) {
	var rest []string
	for _, o := range opts {
		switch o {
		case "noatime":
			flags |= unix.MS_NOATIME
		case "strictatime":
			flags |= unix.MS_STRICTATIME
		case "relatime":
			flags |= unix.MS_RELATIME
		case "iversion":
			flags |= unix.MS_I_VERSION
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw", "defaults", "noiversion":
		default:
			if err := scenarios.CheckMountOption(o); err != nil {
				return 0, "", err
			}
			rest = append(rest, o)
		}
	}
	return flags, strings.Join(rest, ","), nil
}

// ExecPaths lists the scenario paths whose files must be executable
// programs: those exec'd, written or copied with an exec mode, chmod'ed
// executable, and (through overlays, copies and renames) the paths their
// content comes from.
func ExecPaths(s *scenarios.Scenario) map[string]bool {
	set := map[string]bool{}
	type ovl struct {
		mnt    string
		layers []string
	}
	var ovls []ovl
	type move struct{ from, to string }
	var moves []move
	for _, st := range s.Steps {
		t := st.Touches()
		for _, p := range t.Execs {
			set[path.Clean(p)] = true
		}
		if t.To != "" {
			moves = append(moves, move{t.From, t.To})
		}
		if o, ok := st.Op.(scenarios.Overlay); ok {
			ov := ovl{mnt: path.Clean(o.Mount), layers: append([]string(nil), o.Lower...)}
			if o.Upper != "" {
				ov.layers = append(ov.layers, o.Upper)
			}
			ovls = append(ovls, ov)
		}
	}
	for changed := true; changed; {
		changed = false
		add := func(p string) {
			p = path.Clean(p)
			if !set[p] {
				set[p] = true
				changed = true
			}
		}
		for p := range set {
			for _, o := range ovls {
				if rel, ok := strings.CutPrefix(p, o.mnt+"/"); ok {
					for _, l := range o.layers {
						add(path.Join(l, rel))
					}
				}
			}
		}
		for _, m := range moves {
			if set[path.Clean(m.to)] {
				add(m.from)
			}
		}
	}
	return set
}
