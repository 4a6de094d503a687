package ltpcompat_test

import (
	"os"

	ltpcompat "github.com/imasim/imasim/ltp-compat"
)

// A verb fills one Case per scenario x profile, with its expectations as
// subtests, and prints the report in the format asked for; with --format
// ltp it exits with ExitCode.
func ExampleWriteLTP() {
	subs := []ltpcompat.Subtest{
		{Name: "expect audit /ovl/test_prog 1", Status: ltpcompat.Fail, Message: "got 3"},
		{Name: "verdicts", Status: ltpcompat.Info, Message: "excessive at steps 2,3"},
	}
	r := ltpcompat.Report{Verb: "scenario", Cases: []ltpcompat.Case{
		{Name: "xfs-overlay/6.12", Status: ltpcompat.Pass},
		{Name: "xfs-overlay/6.13", Status: ltpcompat.Worst(subs[0].Status, subs[1].Status), Subtests: subs},
	}}
	o := ltpcompat.OptionsFromEnv(func(string) string { return "" })
	_ = ltpcompat.WriteLTP(os.Stdout, r, o)
	_ = ltpcompat.ExitCode(r) // 1: TFAIL
	// Output:
	// imasim_scenario 1 TPASS: xfs-overlay/6.12
	// imasim_scenario 2 TFAIL: xfs-overlay/6.13: expect audit /ovl/test_prog 1: got 3
	// imasim_scenario 2 TINFO: xfs-overlay/6.13: verdicts: excessive at steps 2,3
	//
	// Summary:
	// passed   1
	// failed   1
	// broken   0
	// skipped  0
	// warnings 0
}
