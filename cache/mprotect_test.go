package cache

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFileMprotect(t *testing.T) {
	old, err := LoadProfile("6.1-stable")
	require.NoError(t, err)
	neu, err := LoadProfile("7.1")
	require.NoError(t, err)
	ovl := MprotectCall{PolicyAppraise: true, Path: "/ovl/lib.so", BackingPath: "/t/upper/lib.so"}
	tests := []struct {
		name string
		p    *Profile
		c    MprotectCall
		want Mprotect
	}{
		{"no appraise rule: nothing checked", neu, MprotectCall{Actions: FlagMeasure | FlagAppraise, Path: "/a", BackingPath: "/a"}, Mprotect{}},
		{"no match", neu, MprotectCall{PolicyAppraise: true, Path: "/a", BackingPath: "/a"}, Mprotect{Checked: true, Name: "/a"}},
		{"audit only", neu, MprotectCall{PolicyAppraise: true, Actions: FlagMeasure, Path: "/a", BackingPath: "/a"},
			Mprotect{Checked: true, Audit: true, Res: 1, Name: "/a"}},
		{"appraise denies", neu, MprotectCall{PolicyAppraise: true, Actions: FlagAppraise, Path: "/a", BackingPath: "/a"},
			Mprotect{Checked: true, Audit: true, Deny: true, Res: 0, Name: "/a"}},
		{"6.1 names the overlay path", old, func() MprotectCall { c := ovl; c.Actions = FlagMeasure; return c }(),
			Mprotect{Checked: true, Audit: true, Res: 1, Name: "/ovl/lib.so"}},
		{"backing-file kernels name the dentry", neu, func() MprotectCall { c := ovl; c.Actions = FlagMeasure; return c }(),
			Mprotect{Checked: true, Audit: true, Res: 1, Name: "lib.so"}},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, FileMprotect(tc.p, tc.c), tc.name)
	}
}
