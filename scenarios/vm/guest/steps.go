package guest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"

	"os"
	"strings"
	"time"

	"github.com/imasim/imasim/scenarios"
	"github.com/imasim/imasim/scenarios/real"
)

// scenario runs one scenario with the shared real-syscall executor
// (scenarios/real) and attributes the audit records to its steps.
func (a *agent) scenario(sc Scenario) ScenarioReport {
	rep := ScenarioReport{Name: sc.Name, Root: sc.Root, Final: map[string]string{}}
	s, err := scenarios.Parse(strings.NewReader(sc.Source), sc.Name)
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	var serials []string
	for _, st := range s.Steps {
		if d, ok := sc.Disks[st.Line]; ok {
			serials = append(serials, d.Serial)
		}
	}
	devs, err := waitDisks(serials, 20*time.Second)
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	var disks real.Devices
	for _, sr := range serials {
		disks = append(disks, devs[sr])
	}
	if err := os.MkdirAll(sc.Root, 0o755); err != nil {
		rep.Err = err.Error()
		return rep
	}
	a.settle() // leftovers (e.g. from hashing the previous scenario's files)
	a.logf("scenario %s: %d steps", s.Name, len(s.Steps))
	// Sleeps of 30 s and more stand for "the flusher wrote the data back":
	// MaxSleep and a sync(2) do the same in a fraction of the boot time.
	env := real.Env{Root: sc.Root, Disks: disks, StepGap: time.Duration(scenarios.StepGap),
		MaxSleep: MaxSleep, SyncOnCappedSleep: true}
	t0 := time.Now()
	err = real.RunWith(context.Background(), s, env, func(r *real.Runner) real.Observer {
		return func(ev real.Event) error {
			sr := StepReport{Line: ev.Step.Line, Op: ev.Step.Text}
			if ev.Err != nil {
				sr.Err = ev.Err.Error()
			}
			sr.Audit = a.settle()
			sr.Ms = float64(time.Since(t0).Microseconds()) / 1000
			t0 = time.Now()
			rep.Steps = append(rep.Steps, sr)
			a.logf("line %d: %s%s", ev.Step.Line, ev.Step.Text, errNote(ev.Err))
			if ev.Err != nil {
				return ev.Err
			}
			if ev.Index == len(s.Steps)-1 {
				a.finalHashes(s, r, &rep)
			}
			return nil
		}
	})
	if err != nil {
		var cr *real.CannotRunError
		if errors.As(err, &cr) {
			rep.Unsupported = cr.Reason
		}
		rep.Err = err.Error()
	}
	return rep
}

func errNote(err error) string {
	if err == nil {
		return ""
	}
	return " -> " + err.Error()
}

// finalHashes hashes the scenario's files after the last step, before the
// executor unmounts; records that this causes are dropped.
func (a *agent) finalHashes(s *scenarios.Scenario, r *real.Runner, rep *ScenarioReport) {
	a.drain()
	if len(rep.Steps) > 0 {
		last := &rep.Steps[len(rep.Steps)-1]
		last.Audit = append(last.Audit, a.pending...)
	}
	a.pending = nil
	for _, st := range s.Steps {
		for _, arg := range st.Touches().Paths {
			if !strings.HasPrefix(arg, "/") {
				continue
			}
			p := r.Path(arg)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
				if b, err := os.ReadFile(p); err == nil {
					sum := sha256.Sum256(b)
					rep.Final[arg] = hex.EncodeToString(sum[:])
				}
			}
		}
	}
	a.drain()
	a.pending = nil
}
