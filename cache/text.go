package cache

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteText writes the profile for a person (imasim profile show): its
// description, then every switch with its value and citation.
func (p *Profile) WriteText(w io.Writer) {
	fmt.Fprintf(w, "name:        %s\nabout:       %s\nkernels:     %s\n", p.Name, p.About, p.Kernels)
	if len(p.Examples) > 0 {
		fmt.Fprintf(w, "examples:    %s\n", strings.Join(p.Examples, ", "))
	}
	fmt.Fprintf(w, "evidence:    %s\n", p.Evidence)
	fmt.Fprintf(w, "source:      %s\n\n", p.Source)
	row := func(k, v string) {
		fmt.Fprintf(w, "%-24s %-19s %s\n", k, v, p.Cites[k])
	}
	row("collect", p.Collect)
	row("stacked", p.Stacked)
	row("last-writer", p.LastWriter)
	row("change-cookie", fmt.Sprint(p.ChangeCookie))
	row("overlay-unverifiable", fmt.Sprint(p.OverlayUnverifiable))
	for _, k := range sortedKeys(p.FS) {
		row("fs."+k, p.FS[k])
	}
	rc := sortedKeys(p.RemountClearsIVersion)
	if len(rc) == 0 {
		rc = []string{"none"}
	}
	row("remount-clears-iversion", strings.Join(rc, ","))
	for _, k := range sortedKeys(p.Features) {
		row("feature."+k, p.Features[k].String())
	}
	row("template", p.Template)
	row("hash", p.HashAlgo)
	if len(p.FallbackBanks) > 0 {
		row("fallback-banks", strings.Join(p.FallbackBanks, ","))
	}
	if len(p.Commits) == 0 {
		return
	}
	// The upstream commit behind each switch (commit.KEY), and where its
	// id or subject was read.
	fmt.Fprintf(w, "\ncommits:\n")
	for _, k := range sortedKeys(p.Commits) {
		c := p.Commits[k]
		fmt.Fprintf(w, "%-24s %s\n", k, c)
		if c.ReadAt != "" {
			fmt.Fprintf(w, "%-24s %s\n", "", c.ReadAt)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// WriteText writes the detection for a person (imasim profile detect):
// the kernel, the profile picked or the nearest one, and why.
func (d *Detection) WriteText(w io.Writer) {
	up := d.Upstream.String()
	if !d.SublevelKnown {
		up = fmt.Sprintf("%d.%d (sublevel unknown)", d.Upstream.Major, d.Upstream.Minor)
	}
	distro := ""
	if d.Distro != "" {
		distro = d.Distro + ", "
	}
	fmt.Fprintf(w, "kernel:   %s (%supstream %s)\n", d.Release, distro, up)
	if d.Profile != nil {
		fmt.Fprintf(w, "profile:  %s (kernels %s, evidence: %s)\n", d.Profile.Name, d.Profile.Kernels, d.Profile.Evidence)
	} else {
		fmt.Fprintf(w, "profile:  none fits; nearest %s (kernels %s): pass --profile %s to use it anyway\n", d.Nearest.Name, d.Nearest.Kernels, d.Nearest.Name)
	}
	fmt.Fprintf(w, "why:      %s\n", d.Reason)
}
