package scenarios

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/imasim/imasim/cache"
)

func runScn(t *testing.T, text, profile string) (*Result, error) {
	t.Helper()
	s, err := Parse(strings.NewReader(text), "t.scn")
	require.NoError(t, err)
	p, err := cache.LoadProfile(profile)
	require.NoError(t, err)
	return Run(s, p)
}

const interpHead = `name: t
policy: measure func=BPRM_CHECK uid=65534
fs xfs /lower
fs tmpfs /t
mkdir /t/upper
mkdir /t/work
write /lower/s "one" mode=0755
overlay /ovl lower=/lower upper=/t/upper work=/t/work
open %fd /ovl/s r uid=65534
fstat %fd
execveat /ovl/s AT_EXECVE_CHECK uid=65534
`

// The interpreter verdict: a read after the check that returns other
// content is missed, with the chain; a later fstat that sees ctime change
// catches it; a mapping keeps the lower file.
func TestInterpreterVerdict(t *testing.T) {
	cases := []struct {
		name, steps string
		missed      int
		cause       string
	}{
		{"read after copy-up", "append /ovl/s \"two\"\nread %fd\nclose %fd\n", 1, "the copy-up at line 12 moved %fd's reads to tmpfs"},
		{"caught by fstat", "append /ovl/s \"two\"\nread %fd\nfstat %fd\nclose %fd\n", 0, "caught: the interpreter's fstat at line 14 sees ctime changed"},
		{"pread after copy-up", "append /ovl/s \"two\"\npread %fd 1\nclose %fd\n", 1, "this read hit tmpfs"},
		{"mmap keeps the lower", "append /ovl/s \"two\"\nmmap %fd read\nclose %fd\n", 0, "the mapping holds the file opened at open time"},
		{"unchanged", "read %fd\nclose %fd\n", 0, "the content AT_EXECVE_CHECK at line 11 had IMA check"},
		{"changed in place", "append /lower/s \"two\"\nread %fd\nclose %fd\n", 1, "changed in place at line 12"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runScn(t, interpHead+tc.steps, "7.1")
			require.NoError(t, err)
			assert.Equal(t, tc.missed, res.Count(Missed))
			var causes []string
			for _, st := range res.Steps {
				if st.Hook == "interpreter" {
					causes = append(causes, st.Cause)
				}
			}
			require.NotEmpty(t, causes)
			assert.Contains(t, strings.Join(causes, "\n"), tc.cause)
		})
	}
}

func TestFailsOption(t *testing.T) {
	ro := "name: t\nfs xfs /l\nfs tmpfs /t\nmkdir /t/e\nwrite /l/f \"x\"\noverlay /o lower=/l:/t/e\n"
	res, err := runScn(t, ro+"append /o/f \"y\" fails=EROFS\n", "7.1")
	require.NoError(t, err)
	require.Len(t, res.Seen, 1)
	assert.Equal(t, "failed with EROFS", res.Seen[0].Text)
	_, err = runScn(t, ro+"append /o/f \"y\" fails=EPERM\n", "7.1")
	require.ErrorContains(t, err, "expected to fail with EPERM")
	_, err = runScn(t, ro+"append /l/f \"y\" fails=EROFS\n", "7.1")
	require.ErrorContains(t, err, "it worked")
}

func TestParseInterpreterSteps(t *testing.T) {
	bad := []struct{ step, want string }{
		{"pread %h -1", "offset"},
		{"pread %h x", "offset"},
		{"pread %nope 0", "not an open handle"},
		{"fstat %nope", "not an open handle"},
		{"statx %nope", "not an open handle"},
		{"fsverity disable /f/a", "only fsverity enable"},
		{"append /f/a \"x\" fails=ENOENT", "fails="},
		{"sh relative", "absolute"},
	}
	for _, tc := range bad {
		_, err := Parse(strings.NewReader("name: t\nfs tmpfs /f\nwrite /f/a \"x\"\nopen %h /f/a r\n"+tc.step+"\nclose %h\n"), "t.scn")
		require.Error(t, err, tc.step)
		assert.Contains(t, err.Error(), tc.want, tc.step)
		assert.Contains(t, err.Error(), "t.scn:5:", tc.step)
	}
	s, err := Parse(strings.NewReader("name: t\nfs tmpfs /f\nwrite /f/a \"x\"\nopen %h /f/a r\npread %h 3\nfstat %h\nstatx /f/a\nstatx %h\nsh /f/a uid=7\nopen %w /f/a a fails=EACCES\nclose %h\n"), "t.scn")
	require.NoError(t, err)
	assert.Equal(t, Pread{Handle: "%h", Offset: 3}, s.Steps[3].Op)
	assert.Equal(t, Statx{Path: "/f/a"}, s.Steps[5].Op)
	assert.Equal(t, Statx{Handle: "%h"}, s.Steps[6].Op)
	assert.Equal(t, Sh{Path: "/f/a", Creds: Creds{UID: 7, GID: 7, Set: true}}, s.Steps[7].Op)
	assert.Equal(t, "EACCES", s.Steps[8].Fails)
}

// mmap(PROT_EXEC) of an fd opened before a copy-up: IMA hashes the upper
// file through the overlay's read, the mapping holds the lower one. When
// the lower content was never measured, the executable mapping is missed.
func TestMmapExecAfterCopyUp(t *testing.T) {
	head := `name: t
policy: measure func=MMAP_CHECK uid=65534
fs xfs /lower
fs tmpfs /t
mkdir /t/upper
mkdir /t/work
write /lower/l "v1" mode=0755
overlay /ovl lower=/lower upper=/t/upper work=/t/work
open %h /ovl/l r uid=65534
`
	res, err := runScn(t, head+"append /ovl/l \"x\"\nmmap %h exec\nclose %h\n", "7.1")
	require.NoError(t, err)
	assert.Equal(t, 1, res.Count(Missed))
	require.NotEmpty(t, res.Steps)
	assert.Contains(t, res.Steps[0].Cause, "the mapped content was never measured")
	// Mapped once before the copy-up: the mapped content was measured.
	res, err = runScn(t, head+"mmap %h exec\nappend /ovl/l \"x\"\nmmap %h exec\nclose %h\n", "7.1")
	require.NoError(t, err)
	assert.Equal(t, 0, res.Count(Missed))
}
