package scenarios

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mdRefRE finds a reference to a Markdown file and the sections named
// right after it ("docs/kernel-notes.md §12.4, §13").
var mdRefRE = regexp.MustCompile(`(?:^|[^A-Za-z0-9_./-])((?:\.\.?/|/)?[A-Za-z0-9_][A-Za-z0-9_./-]*\.md)\b((?:,? ?§\d+(?:\.\d+)?)*)`)
var sectionRE = regexp.MustCompile(`§(\d+)(?:\.(\d+))?`)

// docRefs checks every Markdown reference in text, written in the file
// from (relative to root): the file must exist inside the repository,
// relative to root or to from's directory, and each §N (§N.M) must be a
// "## N." heading of it (with a numbered item "M." in that section).
func docRefs(root, from, text string) []string {
	var bad []string
	for _, m := range mdRefRE.FindAllStringSubmatch(text, -1) {
		ref, secs := m[1], m[2]
		target := ""
		if !filepath.IsAbs(ref) {
			for _, base := range []string{".", filepath.Dir(from)} {
				p := filepath.Join(base, ref)
				if strings.HasPrefix(p, "..") {
					continue // outside the repository
				}
				if _, err := os.Stat(filepath.Join(root, p)); err == nil {
					target = p
					break
				}
			}
		}
		if target == "" {
			bad = append(bad, from+": "+ref+" is not a file in the repository")
			continue
		}
		for _, s := range sectionRE.FindAllStringSubmatch(secs, -1) {
			if !hasSection(filepath.Join(root, target), s[1], s[2]) {
				bad = append(bad, from+": "+ref+" has no section "+s[0])
			}
		}
	}
	return bad
}

// hasSection reports whether the Markdown file has a "## N." heading and,
// when item is set, a numbered list item "item." inside that section.
func hasSection(path, n, item string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	in, found := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			h := strings.TrimLeft(l, "#")
			in = strings.HasPrefix(h, " "+n+". ")
			found = found || in
			continue
		}
		if in && item != "" && strings.HasPrefix(strings.TrimSpace(l), item+". ") {
			return true
		}
	}
	return found && item == ""
}

func TestDocRefsChecker(t *testing.T) {
	root := ".."
	assert.Empty(t, docRefs(root, "scenarios/x.scn", "source: docs/kernel-notes.md §12.4, §13 (x); README.md"))
	assert.Empty(t, docRefs(root, "scenarios/vm/doc.go", "see ../../README.md"))
	for _, bad := range []string{"source: KERNEL.md observed table", "/work/ksrc/FACTS.md §5",
		"docs/kernel-notes.md §99", "docs/kernel-notes.md §12.42", "../shared/docs/VM.md"} {
		assert.NotEmpty(t, docRefs(root, "scenarios/builtin/x.scn", bad), bad)
	}
}

// Every reference to a Markdown file in the built-in scenarios and in
// the code's comments names a file of this repository (and sections it
// has), not a document left outside it.
func TestDocRefsResolve(t *testing.T) {
	root := ".."
	var bad []string
	scns, err := filepath.Glob(filepath.Join(root, "scenarios", "builtin", "*.scn"))
	require.NoError(t, err)
	require.NotEmpty(t, scns)
	for _, p := range scns {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		rel, _ := filepath.Rel(root, p)
		bad = append(bad, docRefs(root, rel, string(b))...)
	}
	nGo := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ParseComments)
		if err != nil {
			return err
		}
		nGo++
		rel, _ := filepath.Rel(root, p)
		for _, cg := range f.Comments {
			bad = append(bad, docRefs(root, rel, cg.Text())...)
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, nGo, 50, "walked the repository's Go files")
	assert.Empty(t, bad, strings.Join(bad, "\n"))
}
