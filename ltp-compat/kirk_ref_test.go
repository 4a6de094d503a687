package ltpcompat

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The report as encoding/json writes it (kirk: libkirk/export.py:JSONExporter):
// the reference WriteKirkJSON's hand-written encoder is checked against.
type refKirkReport struct {
	Results     []refKirkResult `json:"results"`
	Stats       kirkStats       `json:"stats"`
	Environment Environment     `json:"environment"`
}

type refKirkResult struct {
	TestFQN string      `json:"test_fqn"`
	Status  string      `json:"status"`
	Test    refKirkTest `json:"test"`
}

type refKirkTest struct {
	Command   string   `json:"command"`
	Arguments []string `json:"arguments"`
	Log       string   `json:"log"`
	Retval    []string `json:"retval"`
	Duration  float64  `json:"duration"`
	Failed    int      `json:"failed"`
	Passed    int      `json:"passed"`
	Broken    int      `json:"broken"`
	Skipped   int      `json:"skipped"`
	Warnings  int      `json:"warnings"`
	Result    string   `json:"result"`
}

func refKirkJSON(t testing.TB, r Report, env Environment, o Options) []byte {
	rep := refKirkReport{Results: []refKirkResult{}, Environment: env}
	for i, c := range r.Cases {
		n := c.Counts()
		code := n.ExitCode()
		st := StatusOfExit(code).Kirk()
		cmd := c.Command
		if cmd == "" {
			cmd = "imasim"
		}
		args := c.Args
		if args == nil {
			args = []string{}
		}
		secs := o.duration(c.Duration).Seconds()
		rep.Results = append(rep.Results, refKirkResult{TestFQN: c.Name, Status: st, Test: refKirkTest{
			Command: cmd, Arguments: args, Log: caseLTP(r.ID(), i+1, c, true), Retval: []string{strconv.Itoa(code)},
			Duration: secs, Failed: n.Failed, Passed: n.Passed, Broken: n.Broken, Skipped: n.Skipped, Warnings: n.Warnings, Result: st}})
		rep.Stats.Runtime += secs
		rep.Stats.Passed += n.Passed
		rep.Stats.Failed += n.Failed
		rep.Stats.Broken += n.Broken
		rep.Stats.Skipped += n.Skipped
		rep.Stats.Warnings += n.Warnings
	}
	b, err := json.MarshalIndent(rep, "", "    ")
	require.NoError(t, err)
	return append(b, '\n')
}

var awkward = []string{"", "plain", "<b>&amp;</b>", "tab\there\nnew\rcr\bbs\ffeed", "\x00\x01\x1f\x7f", "é ü 世界",
	"\u2028\u2029", "bad \xff\xfe utf8 \xc3", `quote " back \ slash`, "emoji 😀"}

// TestKirkMatchesEncodingJSON: the hand-written kirk-json is byte for
// byte encoding/json's MarshalIndent of the same report, on the sample
// reports and on random ones with awkward strings and durations.
func TestKirkMatchesEncodingJSON(t *testing.T) {
	for name, tc := range sampleReports() {
		for _, o := range []Options{{NoDurations: true}, {}} {
			var b bytes.Buffer
			require.NoError(t, WriteKirkJSON(&b, tc.r, fixedEnv, o))
			require.Equal(t, string(refKirkJSON(t, tc.r, fixedEnv, o)), b.String(), name)
		}
	}
	rng := rand.New(rand.NewPCG(4, 5))
	pick := func() string { return awkward[rng.IntN(len(awkward))] + awkward[rng.IntN(len(awkward))] }
	for i := 0; i < 200; i++ {
		r := Report{Verb: pick()}
		for j := rng.IntN(4); j > 0; j-- {
			c := Case{Name: pick(), Status: Status(rng.IntN(6)), Message: pick(), Log: pick(), Command: pick(),
				Duration: time.Duration(rng.Int64N(1 << 40))}
			if rng.IntN(3) == 0 {
				c.Duration = time.Duration(rng.IntN(1000)) // nanoseconds: 1e-7 s and so on
			}
			for k := rng.IntN(3); k > 0; k-- {
				c.Args = append(c.Args, pick())
				c.Subtests = append(c.Subtests, Subtest{Name: pick(), Status: Status(rng.IntN(6)), Message: pick()})
			}
			r.Cases = append(r.Cases, c)
		}
		env := Environment{Distribution: pick(), Kernel: pick(), CPU: pick(), RAM: pick()}
		var b bytes.Buffer
		require.NoError(t, WriteKirkJSON(&b, r, env, Options{}))
		require.Equal(t, string(refKirkJSON(t, r, env, Options{})), b.String())
	}
}

// FuzzKirkJSONValues: strings and floats are written as encoding/json
// writes them, and read back to the same value (invalid UTF-8 aside).
func FuzzKirkJSONValues(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, 1.5)
	}
	f.Add("", 1e-7)
	f.Add("x", 1e21)
	f.Add("y", 123456789.123)
	f.Fuzz(func(t *testing.T, s string, x float64) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		got := appendJSONString(nil, s)
		require.Equal(t, string(want), string(got))
		var back string
		require.NoError(t, json.Unmarshal(got, &back))
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return
		}
		wantF, err := json.Marshal(x)
		require.NoError(t, err)
		require.Equal(t, string(wantF), string(appendJSONFloat(nil, x)))
	})
}
