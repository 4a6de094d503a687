package keylime

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/imasim/imasim/internal/sharedtest"
	"github.com/imasim/imasim/measure"
	"github.com/imasim/imasim/measure/digsig"
	"github.com/stretchr/testify/require"
)

func sharedFile(t testing.TB, rel string) string { return sharedtest.Path(t, rel) }

func readList(t testing.TB, path string) *measure.List {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	l, err := measure.ReadASCIIList(f, measure.ReadOptions{})
	require.NoError(t, err)
	return l
}

// keylimeSample returns keylime's policy made from the sample list, and the list.
func keylimeSample(t testing.TB) ([]byte, *measure.List) {
	pol, err := os.ReadFile(sharedFile(t, "keylime/sample.runtime-policy.json"))
	require.NoError(t, err)
	return pol, readList(t, sharedFile(t, "keylime/sample.ascii_runtime_measurements"))
}

// The policy keylime-policy made from a list of imasim's is what imasim
// makes from that list, byte for byte once the timestamp is keylime's.
func TestFromListMatchesKeylime(t *testing.T) {
	want, l := keylimeSample(t)
	var meta struct {
		Meta struct{ Timestamp string } `json:"meta"`
	}
	require.NoError(t, json.Unmarshal(want, &meta))
	ts, err := time.ParseInLocation("2006-01-02 15:04:05.999999", meta.Meta.Timestamp, time.Local)
	require.NoError(t, err)
	p, err := FromList(l.Reader(), ts)
	require.NoError(t, err)
	require.Equal(t, string(want), string(p.Marshal()))
	// Another time changes only the timestamp.
	p2, err := FromList(l.Reader(), ts.Add(time.Hour))
	require.NoError(t, err)
	require.NotEqual(t, p.Marshal(), p2.Marshal())
	require.Equal(t, meta.Meta.Timestamp, p.Meta.Timestamp)
}

// imasim reads keylime's policy back to the same bytes, and the list it was
// made from passes it, entry by entry.
func TestReadKeylimePolicy(t *testing.T) {
	want, l := keylimeSample(t)
	p, err := Read(bytes.NewReader(want))
	require.NoError(t, err)
	require.Equal(t, string(want), string(p.Marshal()))
	require.Equal(t, []string{"boot_aggregate", "/data/bin/tool-a", "/data/bin/tool-b", "/data/bin/tool-c"}, p.Digests.Keys)
	require.Len(t, p.Digests.Values["/data/bin/tool-b"], 2)
	fs, err := p.Check(l.Reader(), 0)
	require.NoError(t, err)
	require.Len(t, fs, l.Len())
	for _, f := range fs {
		require.Equal(t, OK, f.Verdict, "%+v", f)
	}
}

func TestCheckRejects(t *testing.T) {
	want, l := keylimeSample(t)
	p, err := Read(bytes.NewReader(want))
	require.NoError(t, err)

	// tool-b's second digest removed from the policy: its last entry fails.
	p.Digests.Values["/data/bin/tool-b"] = p.Digests.Values["/data/bin/tool-b"][1:]
	fs, err := p.Check(l.Reader(), 0)
	require.NoError(t, err)
	var failed []Finding
	for _, f := range fs {
		if f.Failed() {
			failed = append(failed, f)
		}
	}
	require.Len(t, failed, 1)
	require.Equal(t, HashDiffers, failed[0].Verdict)
	require.Equal(t, "/data/bin/tool-b", failed[0].Path)
	require.Equal(t, 4, failed[0].Entry)

	// tool-c not in the policy; then excluded by a pattern.
	p, _ = Read(bytes.NewReader(want))
	delete(p.Digests.Values, "/data/bin/tool-c")
	fs, err = p.Check(l.Reader(), 0)
	require.NoError(t, err)
	require.Equal(t, NotInPolicy, fs[3].Verdict)
	p.Excludes = []string{"/data/bin/tool-[c-z]"}
	fs, err = p.Check(l.Reader(), 0)
	require.NoError(t, err)
	require.Equal(t, Excluded, fs[3].Verdict)
	require.False(t, fs[3].Failed())
	p.Excludes = []string{"bin/tool-c"} // re.match anchors at the start
	fs, err = p.Check(l.Reader(), 0)
	require.NoError(t, err)
	require.Equal(t, NotInPolicy, fs[3].Verdict)

	// A violation (zero digest) is not in the policy.
	var vl measure.List
	v, err := measure.NewViolation("ima-sig", 10, measure.SHA256, "/data/bin/tool-a")
	require.NoError(t, err)
	vl.Append(v)
	p, _ = Read(bytes.NewReader(want))
	fs, err = p.Check(vl.Reader(), 0)
	require.NoError(t, err)
	require.Equal(t, HashDiffers, fs[0].Verdict)
}

func TestReadRejects(t *testing.T) {
	good, _ := keylimeSample(t)
	for name, tc := range map[string]struct{ old, new, msg string }{
		"version":     {`"version": 1`, `"version": 2`, "meta.version 2"},
		"generator":   {`"generator": 3`, `"generator": 9`, "meta.generator"},
		"digest":      {`"3db10da0f197b0eb4deab47c0bff6bac088ebc8b044853ebd74932eee51cddfd"`, `"3DB1"`, "not 40-128"},
		"empty list":  {`["3db10da0f197b0eb4deab47c0bff6bac088ebc8b044853ebd74932eee51cddfd"]`, `[]`, "empty digest list"},
		"dm_policy":   {`"dm_policy": null`, `"dm_policy": {}`, "dm_policy"},
		"missing":     {`"excludes": [], `, ``, "excludes missing"},
		"unknown":     {`"release": 0`, `"release": 0, "extra": 1`, "unknown field"},
		"type":        {`"release": 0`, `"release": "0"`, "byte "},
		"syntax":      {`"release": 0,`, `"release": 0,,`, "byte "},
		"trailing":    {`"verification-keys": ""}`, `"verification-keys": ""} {}`, "data after"},
		"alg":         {`"log_hash_alg": "sha1"`, `"log_hash_alg": "md5"`, "log_hash_alg"},
		"dup key":     {`"/data/bin/tool-c"`, `"/data/bin/tool-a"`, "given twice"},
		"bad exclude": {`"excludes": []`, `"excludes": ["(unclosed"]`, "excludes"},
	} {
		bad := strings.Replace(string(good), tc.old, tc.new, 1)
		require.NotEqual(t, string(good), bad, name)
		_, err := Read(strings.NewReader(bad))
		require.ErrorContains(t, err, tc.msg, name)
	}
}

func TestFromListRejects(t *testing.T) {
	var l measure.List
	_, err := FromList(l.Reader(), time.Now())
	require.ErrorContains(t, err, "empty")
	e, err := measure.NewFileEntry("ima-ng", 10, measure.SHA256, make([]byte, 32), "/bin/x")
	require.NoError(t, err)
	l.Append(e)
	_, err = FromList(l.Reader(), time.Now())
	require.ErrorContains(t, err, "boot_aggregate")
}

// Python's json.dumps (the peer keylime writes with) encodes strings as
// imasim does.
func TestPyStringMatchesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: ", err)
	}
	in := []string{"plain", `q"b\s`, "tab\tnl\ncr\r\b\f\x01\x1f\x7f", "é ü 中", "emoji 😀", "/usr/bin/a b"}
	b, _ := json.Marshal(in)
	out, err := exec.Command(py, "-c", "import json,sys\nfor s in json.loads(sys.argv[1]): print(json.dumps(s))", string(b)).Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, lines, len(in))
	for i, s := range in {
		var buf bytes.Buffer
		pyString(&buf, s)
		require.Equal(t, lines[i], buf.String(), "%q", s)
	}
}

func TestPythonTime(t *testing.T) {
	tm := time.Date(2026, 12, 2, 17, 31, 28, 251143000, time.UTC)
	require.Equal(t, "2026-12-02 17:31:28.251143", PythonTime(tm))
	require.Equal(t, "2026-12-02 17:31:28", PythonTime(tm.Truncate(time.Second)))
	require.Equal(t, "2026-12-02 17:31:28.000001", PythonTime(tm.Truncate(time.Second).Add(time.Microsecond)))
}

// FuzzRead: a policy that reads writes back to bytes that read to the
// same policy and write to the same bytes.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"meta": {"version": 1, "generator": 3, "timestamp": "x"}, "release": 0, "digests": {"/a": ["` + strings.Repeat("a", 64) + `"]}, "excludes": ["^/tmp"], "keyrings": {}, "ima": {"ignored_keyrings": [], "log_hash_alg": "sha1", "dm_policy": null}, "ima-buf": {}, "verification-keys": ""}`))
	f.Add([]byte(`{"meta": {"version": 1, "generator": 0}, "release": 2, "digests": {"\u00e9": ["` + strings.Repeat("0", 40) + `"]}, "excludes": [], "keyrings": {}, "ima": {"ignored_keyrings": ["x"], "log_hash_alg": "sha256", "dm_policy": null}, "ima-buf": {}, "verification-keys": "k"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		out := p.Marshal()
		p2, err := Read(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("written policy does not read: %v\n%s", err, out)
		}
		require.Equal(t, string(out), string(p2.Marshal()))
		require.Equal(t, p.Digests.Keys, p2.Digests.Keys)
	})
}

// With keys, an ima-sig entry whose signature verifies is accepted without
// the policy (keylime's _validate_ima_sig); a bad signature falls back to
// the policy.
func TestCheckKeys(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	id, err := digsig.KeyID(&key.PublicKey, nil)
	require.NoError(t, err)
	keys := []digsig.Key{{ID: id, Pub: &key.PublicKey, Name: "test key"}}
	d := sha256.Sum256([]byte("signed program"))
	sig, err := digsig.Sign(key, crypto.SHA256, id, d[:])
	require.NoError(t, err)
	var l measure.List
	ba, err := measure.NewBootAggregate("ima-sig", measure.SHA256, nil)
	require.NoError(t, err)
	l.Append(ba)
	e, err := measure.NewEntry("ima-sig", 10, measure.DigestNG("sha256", d[:]), measure.Name("/bin/signed"), sig)
	require.NoError(t, err)
	l.Append(e)
	bad := bytes.Clone(sig)
	bad[len(bad)-1] ^= 1
	e, err = measure.NewEntry("ima-sig", 10, measure.DigestNG("sha256", d[:]), measure.Name("/bin/forged"), bad)
	require.NoError(t, err)
	l.Append(e)

	p := Empty()
	p.Digests.Add("boot_aggregate", hex.EncodeToString(make([]byte, 32)))
	fs, err := p.CheckKeys(l.Reader(), 0, keys)
	require.NoError(t, err)
	require.Equal(t, OK, fs[0].Verdict)
	require.Equal(t, Signed, fs[1].Verdict)
	require.Equal(t, "ok (test key)", fs[1].Signature)
	require.Equal(t, NotInPolicy, fs[2].Verdict)
	require.Contains(t, fs[2].Signature, "does not verify")
	// Without keys the policy decides.
	fs, err = p.Check(l.Reader(), 0)
	require.NoError(t, err)
	require.Equal(t, NotInPolicy, fs[1].Verdict)
	// A bad signature the policy accepts is accepted.
	p.Digests.Add("/bin/forged", hex.EncodeToString(d[:]))
	fs, err = p.CheckKeys(l.Reader(), 0, keys)
	require.NoError(t, err)
	require.Equal(t, OK, fs[2].Verdict)
}
