package real

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/cache"
	"github.com/imasim/imasim/scenarios"
)

// The interpreter scenarios on the host's kernel: what each read, pread,
// mapping, fstat and statx saw (and what execveat checked) is what the
// model says (issue 21; the VM runs check the Debian kernels the same way).
func TestInterpreterStepsSeeWhatTheModelSays(t *testing.T) {
	needRoot(t, "mkfs.xfs", "mkfs.btrfs", "mkfs.ext4")
	p, err := cache.LoadProfile("7.1")
	require.NoError(t, err)
	for _, name := range []string{"overlay-fd-after-copyup", "overlay-verity-copyup", "overlay-readonly-write",
		"interp-check-fstat", "interp-check-verity", "interp-check-ro-overlay", "execve-check-toctou", "sh-script-filecheck"} {
		t.Run(name, func(t *testing.T) {
			s, err := scenarios.Load(name)
			require.NoError(t, err)
			model, err := scenarios.Run(s, p)
			require.NoError(t, err)
			if name != "sh-script-filecheck" { // sh: no step reports; it must run
				require.NotEmpty(t, model.Seen, "the model reports what the steps saw")
			}
			work := traversableDir(t)
			root := filepath.Join(work, "root")
			require.NoError(t, os.Mkdir(root, 0o755))
			env := Env{Root: root, Disks: &Loop{Dir: work}, StepGap: time.Duration(scenarios.StepGap), MaxSleep: time.Second}
			got := map[int]string{}
			err = RunWith(context.Background(), s, env, func(r *Runner) Observer {
				return func(ev Event) error {
					if ev.Seen != "" {
						got[ev.Step.Line] = ev.Seen
					}
					return ev.Err
				}
			})
			var cr *CannotRunError
			if errors.As(err, &cr) {
				t.Skip(cr.Reason)
			}
			require.NoError(t, err)
			for _, sn := range model.Seen {
				assert.Equal(t, sn.Text, got[sn.Line], "line %d %s", sn.Line, sn.Op)
			}
			assert.Len(t, got, len(model.Seen))
		})
	}
}

func TestFailedAs(t *testing.T) {
	require.NoError(t, failedAs("EROFS", &wrapErr{errors.New("open"), errROFS}))
	require.ErrorContains(t, failedAs("EROFS", nil), "it worked")
	require.ErrorContains(t, failedAs("EPERM", &wrapErr{errors.New("open"), errROFS}), "failed with")
}

var errROFS error = unix.EROFS

type wrapErr struct{ a, b error }

func (w *wrapErr) Error() string   { return w.a.Error() + ": " + w.b.Error() }
func (w *wrapErr) Unwrap() []error { return []error{w.a, w.b} }
