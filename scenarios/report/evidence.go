package report

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/vm"
)

// MaxCaptures bounds how many capture directories one --from reads.
const MaxCaptures = 64

// LoadRuns reads the captures of scenario s under dir (imasim vm --save):
// dir itself, dir/NAME, or dir/KERNEL/NAME for every KERNEL, as vm --save
// lays them out for one or several kernels. Each is compared with the
// model under the profile its kernel.txt names (else the one for its
// version). A capture made from other scenario text is an error: its
// line numbers would not be the report's.
func LoadRuns(dir string, s *scenarios.Scenario) ([]Run, error) {
	var dirs []string
	if isCapture(dir) {
		dirs = []string{dir}
	} else if isCapture(filepath.Join(dir, s.Name)) {
		dirs = []string{filepath.Join(dir, s.Name)}
	} else {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("--from: %w", err)
		}
		for _, e := range ents {
			d := filepath.Join(dir, e.Name(), s.Name)
			if e.IsDir() && isCapture(d) {
				dirs = append(dirs, d)
			}
		}
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("--from %s: no capture of %s (want DIR, DIR/%s or DIR/KERNEL/%s with report.json and kernel.txt)", dir, s.Name, s.Name, s.Name)
	}
	if len(dirs) > MaxCaptures {
		return nil, fmt.Errorf("--from %s: %d captures of %s, at most %d", dir, len(dirs), s.Name, MaxCaptures)
	}
	sort.Strings(dirs)
	var out []Run
	for _, d := range dirs {
		r, err := loadRun(d, s)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func isCapture(d string) bool {
	for _, f := range []string{"report.json", "kernel.txt"} {
		if fi, err := os.Lstat(filepath.Join(d, f)); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

func loadRun(dir string, s *scenarios.Scenario) (Run, error) {
	br, info, err := vm.LoadCapture(dir)
	if err != nil {
		return Run{}, err
	}
	if len(br.Report.Scenarios) != 1 {
		return Run{}, fmt.Errorf("%s: capture holds %d scenarios, want 1", dir, len(br.Report.Scenarios))
	}
	if txt, ok := br.Files["scenario.scn"]; ok {
		cs, err := scenarios.Parse(bytes.NewReader(txt), filepath.Join(dir, "scenario.scn"))
		if err != nil {
			return Run{}, err
		}
		if err := sameSteps(s, cs); err != nil {
			return Run{}, fmt.Errorf("%s: made from other scenario text: %w", dir, err)
		}
	}
	p, err := captureProfile(info)
	if err != nil {
		return Run{}, fmt.Errorf("%s/kernel.txt: %w", dir, err)
	}
	cmp, err := vm.Compare(s, p, info["release"], br, 0)
	if err != nil {
		return Run{}, fmt.Errorf("%s: %w", dir, err)
	}
	label := info["spec"]
	if !strings.HasPrefix(label, "debian:") && !strings.HasPrefix(label, "built:") {
		label = filepath.Base(filepath.Dir(dir))
	}
	return Run{Label: label, Release: info["release"], Cmp: cmp}, nil
}

func captureProfile(info map[string]string) (*cache.Profile, error) {
	if n := info["profile"]; n != "" {
		if !slices.Contains(cache.BuiltinNames(), n) {
			return nil, fmt.Errorf("profile %q: not a built-in profile", clip(n, 40))
		}
		return cache.LoadProfile(n)
	}
	v, err := cache.ParseKernelVersion(info["version"])
	if err != nil {
		return nil, err
	}
	return cache.ProfileFor(v)
}

// sameSteps: the same step and expect lines at the same line numbers.
func sameSteps(a, b *scenarios.Scenario) error {
	key := func(s *scenarios.Scenario) []string {
		var out []string
		for _, st := range s.Steps {
			out = append(out, fmt.Sprintf("%d %s", st.Line, st.Text))
		}
		for _, x := range s.Expects {
			out = append(out, fmt.Sprintf("%d %s", x.Line, x.Text))
		}
		return out
	}
	ka, kb := key(a), key(b)
	for i := range max(len(ka), len(kb)) {
		if i >= len(ka) || i >= len(kb) || ka[i] != kb[i] {
			return errors.New("steps differ from line " + firstLine(ka, kb, i))
		}
	}
	return nil
}

func firstLine(a, b []string, i int) string {
	for _, l := range [][]string{a, b} {
		if i < len(l) {
			n, _, _ := strings.Cut(l[i], " ")
			return n
		}
	}
	return "?"
}
