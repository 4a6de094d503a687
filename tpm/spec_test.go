package tpm

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		spec    string
		want    Spec
		wantErr string
	}{
		{"", Spec{Backend: "software"}, ""},
		{"software", Spec{Backend: "software"}, ""},
		{"simulator", Spec{Backend: "simulator"}, ""},
		{"swtpm", Spec{Backend: "swtpm"}, ""},
		{"device", Spec{Backend: "device", Path: "/dev/tpmrm0"}, ""},
		{"device:/dev/tpm0", Spec{Backend: "device", Path: "/dev/tpm0"}, ""},
		{"swtpm:unix:/run/swtpm/data.sock", Spec{Backend: "swtpm", Network: "unix", Addr: "/run/swtpm/data.sock"}, ""},
		{"swtpm:unix:/d.sock,ctrl=/c.sock", Spec{Backend: "swtpm", Network: "unix", Addr: "/d.sock", Ctrl: "/c.sock"}, ""},
		{"swtpm:tcp:localhost:2321", Spec{Backend: "swtpm", Network: "tcp", Addr: "localhost:2321"}, ""},
		{"swtpm:tcp:localhost:2321,ctrl=2322", Spec{Backend: "swtpm", Network: "tcp", Addr: "localhost:2321", Ctrl: "localhost:2322"}, ""},
		{"swtpm:tcp:[::1]:2321,ctrl=127.0.0.1:2322", Spec{Backend: "swtpm", Network: "tcp", Addr: "[::1]:2321", Ctrl: "127.0.0.1:2322"}, ""},
		{"software:x", Spec{}, "software takes no arguments"},
		{"simulator:", Spec{}, "simulator takes no arguments"},
		{"device:", Spec{}, "want device:PATH"},
		{"device:/a,b", Spec{}, "want device:PATH"},
		{"swtpm:", Spec{}, "want swtpm:unix:"},
		{"swtpm:vsock:3:4", Spec{}, "want swtpm:unix:"},
		{"swtpm:unix:", Spec{}, "missing unix address"},
		{"swtpm:unix:/d,ctl=/c", Spec{}, `unknown option "ctl=/c"`},
		{"swtpm:unix:/d,ctrl=", Spec{}, `unknown option "ctrl="`},
		{"swtpm:unix:/d,ctrl=/a,ctrl=/b", Spec{}, "ctrl given twice"},
		{"swtpm:unix:/d,", Spec{}, `unknown option ""`},
		{"swtpm:tcp:localhost", Spec{}, "data address"},
		{"swtpm:tcp:localhost:0", Spec{}, "data port"},
		{"swtpm:tcp:localhost:65536", Spec{}, "data port"},
		{"swtpm:tcp:localhost:2321,ctrl=x", Spec{}, "ctrl port"},
		{"tpm", Spec{}, `unknown backend "tpm"`},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseSpec(tt.spec)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), "tpm: bad spec")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got, "ParseSpec(%q)", tt.spec)
			again, err := ParseSpec(got.String())
			require.NoError(t, err)
			assert.Equal(t, got, again, "ParseSpec(%q) round trip via %q", tt.spec, got.String())
		})
	}
}

// FuzzParseSpec: ParseSpec never panics, and what it accepts round-trips
// through String.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"", "software", "simulator", "swtpm", "device", "device:/dev/tpm0",
		"swtpm:unix:/d.sock,ctrl=/c.sock", "swtpm:tcp:localhost:2321,ctrl=2322",
		"swtpm:tcp:[::1]:1,ctrl=[::1]:2", "swtpm:unix:a,ctrl=b,ctrl=c", "swtpm:tcp::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := ParseSpec(spec)
		if err != nil {
			return
		}
		again, err := ParseSpec(s.String())
		if err != nil {
			t.Fatalf("ParseSpec(%q) = %+v, but its String %q does not parse: %v", spec, s, s.String(), err)
		}
		if again != s {
			t.Fatalf("ParseSpec(%q) = %+v; String %q parses to %+v", spec, s, s.String(), again)
		}
	})
}

func TestFreshAtOpen(t *testing.T) {
	for spec, want := range map[string]bool{"": true, "software": true, "swtpm": true, "device": true,
		"swtpm:unix:/run/s": false, "swtpm:unix:/run/s,ctrl=/run/c": true, "swtpm:tcp:127.0.0.1:2321": false} {
		if got := FreshAtOpen(spec); got != want {
			t.Errorf("FreshAtOpen(%q) = %v, want %v", spec, got, want)
		}
	}
}
