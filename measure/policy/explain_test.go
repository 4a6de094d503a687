package policy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultMask(t *testing.T) {
	for f, want := range map[Func]Mask{BprmCheck: MayExec, MmapCheck: MayExec, FileCheck: MayRead, KexecCmdline: 0, KeyCheck: 0, FirmwareCheck: MayRead} {
		assert.Equal(t, want, DefaultMask(f), "%v", f)
	}
}

func TestKernelOf(t *testing.T) {
	k, err := KernelOf("", "")
	require.NoError(t, err)
	assert.True(t, k.ModsigUnknown)
	assert.Equal(t, Newest.String(), k.VersionName())
	k, err = KernelOf("6.1.176", " no-modsig, signed-init,,")
	require.NoError(t, err)
	assert.Equal(t, Kernel{Version: Version{6, 1}, AppraiseSignedInit: true}, k)
	assert.Equal(t, "6.1", k.VersionName())
	_, err = KernelOf("", "modsig,bogus")
	assert.ErrorContains(t, err, `unknown --kconfig item "bogus"`)
	_, err = KernelOf("six", "")
	assert.Error(t, err)
}

// TestLoadFileOrBuiltin: a name is a file when one exists, else a
// built-in; a missing file that is no built-in is an error.
func TestLoadFileOrBuiltin(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	p, _, builtin, err := Load(context.Background(), "tcb", Kernel{})
	require.NoError(t, err)
	assert.True(t, builtin)
	assert.NotEmpty(t, p.Rules)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tcb"), []byte("measure func=BPRM_CHECK\nbogus\n"), 0o644))
	p, errs, builtin, err := Load(context.Background(), "tcb", Kernel{})
	require.NoError(t, err)
	assert.False(t, builtin)
	assert.Len(t, p.Rules, 1)
	require.Len(t, errs, 1)
	assert.Equal(t, 2, errs[0].Line)
	_, _, _, err = Load(context.Background(), "nope", Kernel{})
	assert.ErrorContains(t, err, "reading policy")
}

// TestExplainMatches: the explanation lists the rules Match chose and
// its decision, in text and in fields.
func TestExplainMatches(t *testing.T) {
	p, errs, err := ParseAll(strings.NewReader("dont_measure fsmagic=0x1021994\nmeasure func=BPRM_CHECK\nmeasure func=FILE_CHECK mask=MAY_READ\n"), "p", Kernel{})
	require.NoError(t, err)
	require.Empty(t, errs)
	a := Attrs{Func: BprmCheck, Mask: DefaultMask(BprmCheck)}.WithDefaultCaps()
	e := Explain(p, "p", false, Kernel{}, a)
	require.Len(t, e.Matching, 1)
	assert.Equal(t, ExplainRule{Index: 1, Line: 2, Text: "measure func=BPRM_CHECK"}, e.Matching[0])
	assert.Equal(t, []string{"measure"}, e.Actions)
	assert.Equal(t, []string{"setuid", "setgid"}, e.Attrs.Caps)
	var b bytes.Buffer
	e.WriteText(&b)
	assert.Contains(t, b.String(), "line 2:   measure func=BPRM_CHECK\n")
	assert.Contains(t, b.String(), "caps=setuid,setgid")

	a.FSMagic = 0x1021994
	e = Explain(p, "p", false, Kernel{}, a)
	assert.Empty(t, e.Actions)
	b.Reset()
	e.WriteText(&b)
	assert.Contains(t, b.String(), "actions:  none\n")
}

// FuzzKernelOf (--kernel, --kconfig): a known config is accepted in any
// spacing and with empty items, an unknown item is named in the error,
// and the version is the one ParseVersion reads.
func FuzzKernelOf(f *testing.F) {
	for _, s := range []string{"modsig", "no-modsig,signed-init", " write-policy ,,no-keycheck", "bogus", ""} {
		f.Add("6.12", s)
	}
	f.Fuzz(func(t *testing.T, version, kconfig string) {
		k, err := KernelOf(version, kconfig)
		if err != nil {
			return
		}
		if version != "" {
			v, verr := ParseVersion(version)
			if verr != nil || v != k.Version {
				t.Fatalf("%q: version %v, ParseVersion %v, %v", version, k.Version, v, verr)
			}
		}
		k2, err := KernelOf(version, ","+strings.ReplaceAll(kconfig, ",", " , ")+",")
		if err != nil || k2 != k {
			t.Fatalf("%q: respaced gives %+v, %v; want %+v", kconfig, k2, err, k)
		}
		if k.Modsig && k.ModsigUnknown {
			t.Fatalf("%q: modsig both stated and unknown", kconfig)
		}
	})
}
