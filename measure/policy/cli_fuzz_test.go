package policy

import (
	"strings"
	"testing"
)

// FuzzParseVersion (--kernel): a parsed version has no negative part and
// round-trips through String.
func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"6.12", "6.12.107", "7.2.13+deb14-cloud-amd64", "-1.2", "+6.1", "6", "6.x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			return
		}
		if v.Major < 0 || v.Minor < 0 {
			t.Fatalf("%q: negative part in %v", s, v)
		}
		w, err := ParseVersion(v.String())
		if err != nil || w != v {
			t.Fatalf("%q -> %v -> %v, %v", s, v, w, err)
		}
	})
}

// FuzzParseMask (--mask): only the four MAY_* bits, and String parses back
// to the same mask.
func FuzzParseMask(f *testing.F) {
	for _, s := range []string{"MAY_EXEC", "MAY_READ|MAY_WRITE", "MAY_APPEND|MAY_APPEND", "", "|", "MAY_EXEC|"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMask(s)
		if err != nil {
			return
		}
		if m&^(MayExec|MayWrite|MayRead|MayAppend) != 0 || m == 0 {
			t.Fatalf("%q: mask %#x", s, int(m))
		}
		n, err := ParseMask(m.String())
		if err != nil || n != m {
			t.Fatalf("%q -> %q -> %v, %v", s, m.String(), n, err)
		}
	})
}

// FuzzParseFunc (--func): a parsed hook is a real one whose name parses
// back to it; the input is its name or one of the kernel's aliases.
func FuzzParseFunc(f *testing.F) {
	for _, s := range []string{"BPRM_CHECK", "FILE_MMAP", "PATH_CHECK", "POST_SETATTR", "", "Func(0)", "bprm_check"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fn, err := ParseFunc(s)
		if err != nil {
			return
		}
		if fn == FuncNone || strings.HasPrefix(fn.String(), "Func(") {
			t.Fatalf("%q: not a hook: %v", s, fn)
		}
		g, err := ParseFunc(fn.String())
		if err != nil || g != fn {
			t.Fatalf("%q -> %v -> %v, %v", s, fn, g, err)
		}
		if s != fn.String() && funcAliases[s] != fn {
			t.Fatalf("%q parsed as %v, neither its name nor an alias", s, fn)
		}
	})
}
