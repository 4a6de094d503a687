package guest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzJobJSON: any job.json the agent accepts re-encodes to a fixed
// point, so what the host wrote is what the agent runs.
func FuzzJobJSON(f *testing.F) {
	good, _ := json.Marshal(Job{Nonce: "ab12", Policy: "measure func=FILE_CHECK\n", ResultDev: "/dev/ttyS1",
		Scenarios: []Scenario{{Name: "x", Source: "name: x\n", Root: "/s0", Disks: map[int]Disk{3: {Serial: "imasim0-3", FSType: "xfs"}}}},
		Scripts:   []Script{{Name: "t.sh", Path: "/t.sh", Args: []string{"-v"}, Env: []string{"A=1"}}}, Settle: 5})
	f.Add(good)
	f.Add([]byte(`{"disks":{"-1":{}},"settle":-9223372036854775808}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var j Job
		if json.Unmarshal(b, &j) != nil {
			return
		}
		one, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		var again Job
		if err := json.Unmarshal(one, &again); err != nil {
			t.Fatalf("re-decoding %s: %v", one, err)
		}
		two, _ := json.Marshal(again)
		if !bytes.Equal(one, two) {
			t.Fatalf("not a fixed point:\n%s\n%s", one, two)
		}
	})
}
