package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input panics the parser, that errors point
// inside their line, and that every accepted rule survives
// String -> ParseRule unchanged. Its seeds (the policy files and some
// tricky rules) run in every go test.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../testdata/policies/*.policy")
	for _, fn := range files {
		if data, err := os.ReadFile(fn); err == nil {
			f.Add(string(data))
		}
	}
	for _, s := range []string{
		"", "\n\n", "#", "measure", "measure func=", "measure\tfunc=BPRM_CHECK\t\tmask=MAY_EXEC",
		"measure func=BPRM_CHECK # c", "appraise digest_type=verity appraise_type=sigv3",
		"measure fsuuid=8bcbe394-4f13-4144-be8e-5aa9ea2ce2f6trailing",
		"measure uid<0 fowner>4294967294", "dont_measure fsmagic=0", "measure\r\n",
		"measure func=KEY_CHECK keyrings=|", "measure template=d-ng|n-ng|sig pcr=+7",
		"appraise func=SETXATTR_CHECK appraise_algos=sha1,sha1,md5",
		"appraise appraise_type=imasig digest_type=verity",
		"appraise func=MODULE_CHECK appraise_type=imasig|modsig appraise_flag=check_blacklist",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		lines := strings.Split(data, "\n")
		for _, k := range []Kernel{k61, k612, k72} {
			p, errs, err := ParseAll(strings.NewReader(data), "fuzz", k)
			if err != nil {
				t.Fatalf("ParseAll: %v", err)
			}
			for _, e := range errs {
				if e.Line < 1 || e.Line > len(lines) {
					t.Fatalf("error %v: line out of range (%d lines)", e, len(lines))
				}
				if e.Col < 1 || e.Col > len(lines[e.Line-1])+1 {
					t.Fatalf("error %v: column outside line %q", e, lines[e.Line-1])
				}
			}
			for _, r := range p.Rules {
				s := r.String()
				back, err := ParseRule(s, k)
				if err != nil {
					t.Fatalf("String of %q = %q does not parse: %v", r.Text, s, err)
				}
				if back.String() != s {
					t.Fatalf("round trip of %q: %q then %q", r.Text, s, back.String())
				}
				a := r
				a.Line, a.Text, back.Line, back.Text = 0, "", 0, ""
				if !rulesEqual(a, back) {
					t.Fatalf("round trip of %q changed the rule:\n%+v\n%+v", r.Text, a, back)
				}
			}
		}
	})
}

func rulesEqual(a, b Rule) bool {
	return a.String() == b.String() && a.Flags == b.Flags && a.Action == b.Action &&
		a.Func == b.Func && a.Mask == b.Mask && a.FSMagic == b.FSMagic && a.UID == b.UID &&
		a.GID == b.GID && a.PCR == b.PCR && a.Template == b.Template && a.LSM == b.LSM
}
