// Package sharedtest finds the project's shared reference files (the
// ../shared/ of a CI run: schemas, keylime policies) for tests.
package sharedtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Path returns $IMASIM_SHARED/REL, else shared/REL in the nearest directory
// above the working directory that has it (CI puts shared/ beside the
// clone; a worktree may sit deeper). It skips t when there is none.
func Path(t testing.TB, rel string) string {
	t.Helper()
	if d := os.Getenv("IMASIM_SHARED"); d != "" {
		p := filepath.Join(d, rel)
		if _, err := os.Stat(p); err != nil {
			t.Skipf("shared file: %v", err)
		}
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Skipf("shared/%s not found above the working directory (set IMASIM_SHARED)", rel)
		}
		dir = up
	}
}
