package real_test

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
)

// A VM guest agent runs a scenario on the disks the host attached (one
// per real.DiskTypes entry, already formatted) and looks at each file
// after every step.
func ExampleRunWith() {
	s, err := scenarios.Load("xfs-write")
	if err != nil {
		panic(err)
	}
	env := real.Env{Root: "/", Disks: real.Devices{"/dev/vdb"}, StepGap: scenarios.StepGap}
	err = real.RunWith(context.Background(), s, env, func(r *real.Runner) real.Observer {
		return func(ev real.Event) error {
			var sx unix.Statx_t
			if unix.Statx(unix.AT_FDCWD, r.Path("/mnt/test_prog"), 0, unix.STATX_BASIC_STATS, &sx) == nil {
				fmt.Printf("line %d: ino %d size %d\n", ev.Step.Line, sx.Ino, sx.Size)
			}
			return ev.Err // stop at the first failing step
		}
	})
	if err != nil {
		fmt.Println(err)
	}
}
