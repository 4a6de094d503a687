package measure

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(tb, err)
	return b
}

// sampleList rebuilds the three-entry ima-ng list of ima-evm-utils'
// tests/test_ascii_runtime_measurements from its file digests and names.
func sampleList(tb testing.TB) *List {
	tb.Helper()
	var l List
	for _, x := range []struct{ digest, name string }{
		{"f1b4c7c9b27e94569f4c2b64051c452bc609c3cb891dd7fae06b758f8bc83d14", "boot_aggregate"},
		{"ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0", "/init"},
		{"4b1764ee112aa8b2a6ae9a3a2f1e272b6601681f610708497673cd49e5bd2f5c", "/bin/sh"},
	} {
		e, err := NewFileEntry("ima-ng", 10, SHA256, unhex(tb, x.digest), x.name)
		require.NoError(tb, err)
		require.True(tb, l.Append(e))
	}
	return &l
}

// ima-evm-utils' public vector (testdata/lists/README.md): template digests, the ASCII list, and
// PCR 10 in the three modes.
func TestPublicVectorIMANG(t *testing.T) {
	l := sampleList(t)
	wantDigests := []string{
		"cf41b43c4031672fcc2bd358b309ad33b977424f",
		"983dcd8e6f7c84a1a5f10e762d1850623966ceab",
		"b6e4d01c73f6e4b698eaf48e7d76a2bae0c02514",
	}
	for i, e := range l.Entries {
		assert.Equal(t, wantDigests[i], hex.EncodeToString(e.Digest), "entry %d digest", i)
	}
	var ascii bytes.Buffer
	require.NoError(t, l.WriteASCII(&ascii, 0))
	assert.Equal(t, "10 cf41b43c4031672fcc2bd358b309ad33b977424f ima-ng sha256:f1b4c7c9b27e94569f4c2b64051c452bc609c3cb891dd7fae06b758f8bc83d14 boot_aggregate\n"+
		"10 983dcd8e6f7c84a1a5f10e762d1850623966ceab ima-ng sha256:ae06e032a65fed8102aff5f8f31c678dcf2eb25b826f77ecb699faa0411f89e0 /init\n"+
		"10 b6e4d01c73f6e4b698eaf48e7d76a2bae0c02514 ima-ng sha256:4b1764ee112aa8b2a6ae9a3a2f1e272b6601681f610708497673cd49e5bd2f5c /bin/sh\n",
		ascii.String())

	res, err := l.Replay(ReplayConfig{Banks: []Algo{SHA1, SHA256}})
	require.NoError(t, err)
	want := map[[2]Algo]string{
		{SHA1, Algo(PerBank)}:      "84dd8a72820429a0be3d28adffe99fe9bc2580b4",
		{SHA256, Algo(PerBank)}:    "34cacdb5ac5de31a8887ed22a5142974bd1695bb49331d1cb205d45800080bce",
		{SHA256, Algo(SHA1Padded)}: "42c2917bc771ef874471da6a47b14cc96d902533f81294688c89b57e2b23ec97",
		{SHA256, Algo(Fallback)}:   "42c2917bc771ef874471da6a47b14cc96d902533f81294688c89b57e2b23ec97",
	}
	require.Len(t, res.Tracks, 4)
	for _, tr := range res.Tracks {
		require.Len(t, tr.PCRs, 1)
		assert.Equal(t, want[[2]Algo{tr.Bank, Algo(tr.Mode)}], hex.EncodeToString(tr.PCRs[0].Value), "%s %s", tr.Bank, tr.Mode)
	}

	// The same list parsed back from ASCII replays the same.
	l2, err := ReadASCIIList(&ascii, ReadOptions{})
	require.NoError(t, err)
	res2, err := l2.Replay(ReplayConfig{Banks: []Algo{SHA1, SHA256}})
	require.NoError(t, err)
	assert.Equal(t, res.Tracks, res2.Tracks)
	assert.Zero(t, res2.DigestErrorCount)
}

func TestVerifyAgainstQuote(t *testing.T) {
	l := sampleList(t)
	tests := []struct {
		name     string
		quote    Quote
		wantMode map[Algo]Mode
		wantErr  bool
	}{
		{"per-bank", Quote{SHA1: {10: unhex(t, "84dd8a72820429a0be3d28adffe99fe9bc2580b4")},
			SHA256: {10: unhex(t, "34cacdb5ac5de31a8887ed22a5142974bd1695bb49331d1cb205d45800080bce")}},
			map[Algo]Mode{SHA1: PerBank, SHA256: PerBank}, false},
		{"sha1-padded", Quote{SHA256: {10: unhex(t, "42c2917bc771ef874471da6a47b14cc96d902533f81294688c89b57e2b23ec97")}},
			map[Algo]Mode{SHA256: SHA1Padded}, false},
		{"mismatch", Quote{SHA1: {10: make([]byte, 20)}}, nil, true},
		{"unextended PCR zero matches", Quote{SHA1: {11: make([]byte, 20)}}, map[Algo]Mode{SHA1: PerBank}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := l.Replay(ReplayConfig{Quote: tc.quote})
			require.NoError(t, err)
			err = res.Verify()
			if tc.wantErr {
				var re *ReplayError
				require.ErrorAs(t, err, &re)
				assert.Equal(t, 3, re.Index)
				return
			}
			require.NoError(t, err)
			for _, v := range res.Verdicts() {
				assert.True(t, v.Matched)
				assert.Equal(t, tc.wantMode[v.Bank], v.Mode, "bank %s", v.Bank)
			}
		})
	}
}

// A quote taken mid-list matches at its entry; every later match is
// recorded too (no early stop).
func TestReplayMatchesAllIndices(t *testing.T) {
	var l List
	for i, n := range []string{"/a", "/b", "/c"} {
		e, err := NewFileEntry("ima-ng", 10, SHA256, bytes.Repeat([]byte{byte(i + 1)}, 32), n)
		require.NoError(t, err)
		l.Append(e)
	}
	e, err := NewFileEntry("ima-ng", 11, SHA256, make([]byte, 32), "/other-pcr")
	require.NoError(t, err)
	l.Append(e)

	part := &List{Entries: l.Entries[:2]}
	r0, err := part.Replay(ReplayConfig{Banks: []Algo{SHA256}, Modes: []Mode{PerBank}})
	require.NoError(t, err)
	q := Quote{SHA256: {10: r0.Tracks[0].PCRs[0].Value}}

	res, err := l.Replay(ReplayConfig{Quote: q, Modes: []Mode{PerBank}})
	require.NoError(t, err)
	pr := res.Tracks[0].PCRs[0]
	assert.Equal(t, []int{1}, pr.Matches)
	// The final PCR 10 differs, but the quote was reached at entry 1.
	require.NoError(t, res.Verify())
	v := res.Verdicts()
	require.Len(t, v, 1)
	assert.Equal(t, map[int]int{10: 1}, v[0].Index)
}

func TestBootAggregate(t *testing.T) {
	// PCR 0-7 (sha1) of ima-evm-utils' tests/sample-tpm-2.0-pcrs-8-9.
	var pcrs [][]byte
	for _, s := range []string{
		"92c1850372e9493929aa9a2e9ea953e21ff1be45", "41c54039ca2750ea60d8ab7c48b142b10aba5667",
		"b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236", "b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236",
		"4c1a19aad90f770956ff5ee00334a2d548b1a350", "a1444a8a9904666165730168b3ae489447d3cef7",
		"b2a83b0ebf2f8374299a5b2bdfc31ea955ad7236", "5c6327a67ff36f138e0b7bb1d2eafbf8a6e52ebf",
	} {
		pcrs = append(pcrs, unhex(t, s))
	}
	got, err := BootAggregate(SHA1, pcrs)
	require.NoError(t, err)
	assert.Equal(t, "902992f8f550b797165537c7e8ab9a2f2170321d", hex.EncodeToString(got))

	_, err = BootAggregate(SHA256, pcrs)
	require.Error(t, err, "sha256 needs PCRs 0-9")
	// Non-SHA-1 banks include PCRs 8 and 9; SHA-1 ignores them.
	p256 := make([][]byte, 10)
	for i := range p256 {
		p256[i] = make([]byte, 32)
	}
	a1, err := BootAggregate(SHA256, p256)
	require.NoError(t, err)
	p256[9][0] = 1
	a2, err := BootAggregate(SHA256, p256)
	require.NoError(t, err)
	assert.NotEqual(t, a1, a2, "PCR 9 counts for sha256")
	h := SHA256.New()
	for _, p := range p256 {
		h.Write(p)
	}
	assert.Equal(t, h.Sum(nil), a2)
	p1 := append(append([][]byte{}, pcrs...), make([]byte, 20), []byte{9})
	b1, err := BootAggregate(SHA1, p1)
	require.NoError(t, err)
	assert.Equal(t, "902992f8f550b797165537c7e8ab9a2f2170321d", hex.EncodeToString(b1), "PCRs 8-9 do not count for sha1")

	tests := []struct {
		banks []Algo
		ima   Algo
		want  Algo
		ok    bool
	}{
		{[]Algo{SHA1, SHA256, SHA384}, SHA384, SHA384, true},
		{[]Algo{SHA1, SHA256}, SHA512, SHA256, true},
		{[]Algo{SHA256, SHA1}, SHA512, SHA256, true},
		{[]Algo{SHA1}, SHA256, SHA1, true},
		{nil, SHA256, 0, false},
	}
	for _, tc := range tests {
		got, ok := BootAggregateBank(tc.banks, tc.ima)
		assert.Equal(t, tc.want, got, "BootAggregateBank(%v, %v)", tc.banks, tc.ima)
		assert.Equal(t, tc.ok, ok)
	}

	// The boot_aggregate line of ima-evm-utils'
	// tests/sample-ascii_runtime_measurements-pcrs-8-9 (sha256 over PCRs
	// 0-9 of its sample event log, which imasim does not parse).
	ba, err := NewFileEntry("ima-ng", 10, SHA256, unhex(t, "83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e"), "boot_aggregate")
	require.NoError(t, err)
	assert.Equal(t, "10 2e03b3fdb0014fc8bae2a07ca33ae67125b290f3 ima-ng sha256:83d19723ef3b3c05bb8ae70d86b3886c158f2408f1b71ed265886a7b79eb700e boot_aggregate\n",
		string(AppendASCII(nil, ba, 0)))

	e, err := NewBootAggregate("ima-ng", SHA256, nil)
	require.NoError(t, err)
	// No TPM: zero digest, but a normal entry (hashed and extended).
	assert.Equal(t, "10 0adefe762c149c7cec19da62f0da1297fcfbffff ima-ng sha256:0000000000000000000000000000000000000000000000000000000000000000 boot_aggregate\n",
		string(AppendASCII(nil, e, 0)))
	assert.False(t, e.IsViolation())
	name, _ := e.FileName()
	assert.Equal(t, "boot_aggregate", name)
}

func TestSM3(t *testing.T) {
	h := SM3.New()
	h.Write([]byte("abc"))
	assert.Equal(t, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", hex.EncodeToString(h.Sum(nil)))
	for _, a := range Algos {
		assert.Equal(t, a.Size(), a.New().Size(), "%s", a)
		p, err := ParseAlgo(a.String())
		require.NoError(t, err)
		assert.Equal(t, a, p)
	}
}

// allTemplates builds one entry of every builtin template plus custom ones.
func allTemplates(tb testing.TB) *List {
	tb.Helper()
	var l List
	d256 := bytes.Repeat([]byte{0xab}, 32)
	add := func(e *Entry, err error) {
		tb.Helper()
		require.NoError(tb, err)
		require.True(tb, l.Append(e))
	}
	add(NewFileEntry("ima", 10, SHA1, bytes.Repeat([]byte{1}, 20), "/bin/ima with space"))
	add(NewFileEntry("ima-ng", 10, SHA256, d256, "/bin/ng"))
	add(NewEntry("ima-sig", 10, DigestNG("sha256", d256), Name("/bin/sig"), []byte{3, 2, 0xde, 0xad}))
	add(NewFileEntry("ima-sig", 10, SHA256, d256, "/bin/nosig"))
	add(NewFileEntry("ima-ngv2", 10, SHA384, bytes.Repeat([]byte{2}, 48), "/bin/ngv2"))
	add(NewEntry("ima-sigv2", 10, DigestNGv2("verity", "sha256", d256), Name("/bin/verity"), []byte{6, 1}))
	add(NewEntry("ima-buf", 10, DigestNG("sha256", d256), Name("kexec-cmdline"), []byte("root=/dev/vda ro")))
	add(NewEntry("ima-modsig", 10, DigestNG("sha256", d256), Name("/lib/m.ko"), []byte{}, DigestNG("sha512", bytes.Repeat([]byte{9}, 64)), []byte{0x30, 0x82}))
	add(NewEntry("evm-sig", 10, DigestNG("sm3", d256), Name("/etc/f"), []byte{5, 2}, []byte("security.ima|security.selinux\x00"), // NUL-terminated as the kernel writes it
		[]byte{0x10, 0, 0x20, 0}, []byte{7, 7}, Uint32(1000), Uint32(100), Uint16(0o100644)))
	add(NewEntry("d-ng|n-ng|iuid|igid|imode", 11, DigestNG("sha512", bytes.Repeat([]byte{4}, 64)), Name("/custom"), Uint32(0), Uint32(4294967295), Uint16(0o755)))
	add(NewEntry("d|n", 12, bytes.Repeat([]byte{5}, 20), Name("/custom-dn")))
	add(NewViolation("ima-ng", 10, SHA256, "/tmp/tomtou"))
	add(NewViolation("ima", 10, SHA1, "/tmp/old"))
	add(NewViolation("ima", 10, SHA256, "/tmp/old-sha256-kernel"))
	pcrs := make([][]byte, 10)
	for i := range pcrs {
		pcrs[i] = bytes.Repeat([]byte{byte(i)}, 32)
	}
	add(NewBootAggregate("ima-ng", SHA256, pcrs))
	return &l
}

func TestBinaryRoundTrip(t *testing.T) {
	l := allTemplates(t)
	for _, tc := range []struct {
		name  string
		order binary.ByteOrder
		bank  Algo
	}{
		{"le-sha1", binary.LittleEndian, SHA1},
		{"be-sha1", binary.BigEndian, SHA1},
		{"le-sha256", binary.LittleEndian, SHA256},
		{"be-sha384", binary.BigEndian, SHA384},
		{"le-sm3", binary.LittleEndian, SM3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, l.WriteBinary(&buf, WriteOptions{Order: tc.order, Bank: tc.bank}))
			orig := bytes.Clone(buf.Bytes())
			rd := NewReader(bytes.NewReader(orig), ReadOptions{Bank: tc.bank})
			l2, err := collect(rd)
			require.NoError(t, err)
			assert.Equal(t, tc.order, rd.Order(), "detected order")
			require.Equal(t, l.Len(), l2.Len())
			for i, e := range l2.Entries {
				assert.Equal(t, l.Entries[i].Template.ListName(), e.Template.ListName())
				if l.Entries[i].IsViolation() {
					assert.True(t, e.IsViolation())
					continue
				}
				assert.Equal(t, e.TemplateHash(tc.bank), e.Digest, "entry %d digest", i)
			}
			var again bytes.Buffer
			require.NoError(t, l2.WriteBinary(&again, WriteOptions{Order: tc.order, Bank: tc.bank}))
			assert.Equal(t, orig, again.Bytes())
			if tc.order == binary.BigEndian && tc.bank == SHA1 {
				// Lengths are hashed as stored: digests differ from LE.
				assert.NotEqual(t, l.Entries[1].Digest, l2.Entries[1].Digest)
				// The legacy ima template hashes no lengths.
				assert.Equal(t, l.Entries[0].Digest, l2.Entries[0].Digest)
				// Fields, integers included, read back the same.
				noDigest := func(l *List) []string {
					var a bytes.Buffer
					require.NoError(t, l.WriteASCII(&a, 0))
					lines := strings.Split(a.String(), "\n")
					for i, ln := range lines {
						if f := strings.SplitN(strings.TrimLeft(ln, " "), " ", 3); len(f) == 3 {
							lines[i] = f[0] + " " + f[2]
						}
					}
					return lines
				}
				assert.Equal(t, noDigest(l), noDigest(l2))
			}
		})
	}
}

func TestASCIIRendering(t *testing.T) {
	l := allTemplates(t)
	var buf bytes.Buffer
	require.NoError(t, l.WriteASCII(&buf, 0))
	lines := strings.Split(buf.String(), "\n")
	want := []string{
		"ima 0101010101010101010101010101010101010101 /bin/ima_with_space",
		"ima-ng sha256:abababababababababababababababababababababababababababababababab /bin/ng",
		"ima-sig sha256:abababababababababababababababababababababababababababababababab /bin/sig 0302dead",
		"ima-sig sha256:abababababababababababababababababababababababababababababababab /bin/nosig ",
		"ima-ngv2 ima:sha384:" + strings.Repeat("02", 48) + " /bin/ngv2",
		"ima-sigv2 verity:sha256:abababababababababababababababababababababababababababababababab /bin/verity 0601",
		"ima-buf sha256:abababababababababababababababababababababababababababababababab kexec-cmdline 726f6f743d2f6465762f76646120726f",
		"ima-modsig sha256:abababababababababababababababababababababababababababababababab /lib/m.ko  sha512:" + strings.Repeat("09", 64) + " 3082",
		"evm-sig sm3:abababababababababababababababababababababababababababababababab /etc/f 0502 security.ima|security.selinux 10002000 0707 1000 100 33188",
		"d-ng|n-ng|iuid|igid|imode sha512:" + strings.Repeat("04", 64) + " /custom 0 4294967295 493",
		"d|n 0505050505050505050505050505050505050505 /custom-dn",
		"0000000000000000000000000000000000000000 ima-ng sha256:" + strings.Repeat("00", 32) + " /tmp/tomtou",
		"0000000000000000000000000000000000000000 ima " + strings.Repeat("00", 20) + " /tmp/old",
	}
	for i, w := range want {
		assert.Contains(t, lines[i], w, "line %d", i)
	}
	assert.True(t, strings.HasPrefix(lines[9], "11 "))
	assert.Equal(t, "", lines[len(lines)-1])

	// ASCII → entries → ASCII is stable, and digests still verify.
	l2, err := ReadASCIIList(bytes.NewReader(buf.Bytes()), ReadOptions{})
	require.NoError(t, err)
	var again bytes.Buffer
	require.NoError(t, l2.WriteASCII(&again, 0))
	assert.Equal(t, buf.String(), again.String())
	res, err := l2.Replay(ReplayConfig{})
	require.NoError(t, err)
	assert.Zero(t, res.DigestErrorCount, "digest errors at %v", res.DigestErrors)
	assert.Equal(t, 3, res.Violations)
}

func TestPerBankASCII(t *testing.T) {
	l := sampleList(t)
	var buf bytes.Buffer
	require.NoError(t, l.WriteASCII(&buf, SHA256))
	first := strings.SplitN(buf.String(), " ", 3)
	assert.Len(t, first[1], 64)
	l2, err := ReadASCIIList(&buf, ReadOptions{Bank: SHA256})
	require.NoError(t, err)
	res, err := l2.Replay(ReplayConfig{Banks: []Algo{SHA256}, Modes: []Mode{PerBank}})
	require.NoError(t, err)
	assert.Zero(t, res.DigestErrorCount)
	assert.Equal(t, "34cacdb5ac5de31a8887ed22a5142974bd1695bb49331d1cb205d45800080bce", hex.EncodeToString(res.Tracks[0].PCRs[0].Value))
}

func TestViolationReplay(t *testing.T) {
	v, err := NewViolation("ima-ng", 10, SHA256, "/tmp/x")
	require.NoError(t, err)
	l := &List{Entries: []*Entry{v}}
	res, err := l.Replay(ReplayConfig{Banks: []Algo{SHA1, SHA256}})
	require.NoError(t, err)
	ext := func(a Algo, d []byte) string {
		h := a.New()
		h.Write(make([]byte, a.Size()))
		h.Write(d)
		return hex.EncodeToString(h.Sum(nil))
	}
	ff := func(n, size int) []byte {
		b := make([]byte, size)
		for i := 0; i < n; i++ {
			b[i] = 0xff
		}
		return b
	}
	want := map[Mode]string{
		PerBank:    ext(SHA256, ff(32, 32)),
		SHA1Padded: ext(SHA256, ff(20, 32)),
		Fallback:   ext(SHA256, ff(32, 32)),
	}
	for _, tr := range res.Tracks {
		if tr.Bank == SHA1 {
			assert.Equal(t, ext(SHA1, ff(20, 20)), hex.EncodeToString(tr.PCRs[0].Value))
			continue
		}
		assert.Equal(t, want[tr.Mode], hex.EncodeToString(tr.PCRs[0].Value), "%s", tr.Mode)
	}
	assert.Equal(t, 1, res.Violations)
	assert.Zero(t, res.DigestErrorCount)
}

func TestDedup(t *testing.T) {
	mk := func(pcr int, name string) *Entry {
		e, err := NewFileEntry("ima-ng", pcr, SHA256, make([]byte, 32), name)
		require.NoError(t, err)
		return e
	}
	viol := func() *Entry {
		e, err := NewViolation("ima-ng", 10, SHA256, "/v")
		require.NoError(t, err)
		return e
	}
	var l List
	assert.True(t, l.Append(mk(10, "/a")))
	assert.False(t, l.Append(mk(10, "/a")), "same digest and PCR")
	assert.True(t, l.Append(mk(11, "/a")), "other PCR")
	assert.True(t, l.Append(mk(10, "/b")), "other name")
	assert.True(t, l.Append(viol()))
	assert.True(t, l.Append(viol()), "violations always added")
	nodedup := List{DisableHTable: true}
	assert.True(t, nodedup.Append(mk(10, "/a")))
	assert.True(t, nodedup.Append(mk(10, "/a")))
}

func TestIncrementalReplay(t *testing.T) {
	l := allTemplates(t)
	var buf bytes.Buffer
	require.NoError(t, l.WriteBinary(&buf, WriteOptions{}))
	data := buf.Bytes()
	cfg := ReplayConfig{Banks: []Algo{SHA1, SHA256, SHA512}}
	full, err := Replay(NewReader(bytes.NewReader(data), ReadOptions{}), cfg)
	require.NoError(t, err)

	// First pass: 5 entries, then checkpoint.
	rd := NewReader(bytes.NewReader(data), ReadOptions{})
	r1, err := NewReplayer(cfg)
	require.NoError(t, err)
	for i := 0; i < 5; i++ {
		e, err := rd.Next()
		require.NoError(t, err)
		require.NoError(t, r1.Add(e))
	}
	st := r1.State(rd.Offset())
	assert.Equal(t, 5, st.Entries)

	// Resume from the byte offset.
	r2, err := NewReplayer(cfg)
	require.NoError(t, err)
	require.NoError(t, r2.Resume(st))
	require.NoError(t, r2.AddAll(NewReader(bytes.NewReader(data[st.Offset:]), ReadOptions{Order: binary.LittleEndian})))
	assert.Equal(t, full.Tracks, r2.Result().Tracks)
	assert.Equal(t, full.Entries, r2.Result().Entries)
	assert.Equal(t, full.Violations, r2.Result().Violations)

	// Resume by skipping entries.
	r3, err := NewReplayer(cfg)
	require.NoError(t, err)
	require.NoError(t, r3.Resume(st))
	rd3 := NewReader(bytes.NewReader(data), ReadOptions{})
	require.NoError(t, rd3.Skip(st.Entries))
	require.NoError(t, r3.AddAll(rd3))
	assert.Equal(t, full.Tracks, r3.Result().Tracks)

	bad, err := NewReplayer(ReplayConfig{Banks: []Algo{SHA384}})
	require.NoError(t, err)
	require.Error(t, bad.Resume(st), "state lacks the sha384 track")
}

func TestDigestErrorReported(t *testing.T) {
	l := sampleList(t)
	l.Entries[1].Digest[0] ^= 1
	res, err := l.Replay(ReplayConfig{})
	require.NoError(t, err)
	assert.Equal(t, []int{1}, res.DigestErrors)
	require.Error(t, res.Verify())
}

func TestBadInput(t *testing.T) {
	good := func() []byte {
		var buf bytes.Buffer
		require.NoError(t, sampleList(t).WriteBinary(&buf, WriteOptions{}))
		return buf.Bytes()
	}
	le := binary.LittleEndian
	entry2 := 4 + 20 + 4 + 6 + 4 + (4 + 8 + 32) + (4 + 15) // offset of the second entry
	tests := []struct {
		name    string
		data    func() []byte
		opt     ReadOptions
		entry   int
		offset  int64
		wantErr error
	}{
		{"truncated header", func() []byte { return good()[:10] }, ReadOptions{}, 0, 0, ErrTruncated},
		{"truncated data", func() []byte { return good()[:entry2+50] }, ReadOptions{}, 1, int64(entry2), ErrTruncated},
		{"4 GiB name length", func() []byte {
			b := good()
			le.PutUint32(b[entry2+24:], 0xffffffff)
			return b
		}, ReadOptions{}, 1, int64(entry2), ErrTooLong},
		{"4 GiB data length", func() []byte {
			b := good()
			le.PutUint32(b[entry2+34:], 0xffffffff)
			return b
		}, ReadOptions{}, 1, int64(entry2), ErrTooLong},
		{"field overruns data", func() []byte {
			b := good()
			le.PutUint32(b[entry2+38:], 1000)
			return b
		}, ReadOptions{}, 1, int64(entry2), ErrFields},
		{"unknown template", func() []byte {
			b := good()
			copy(b[entry2+28:], "xma-ng")
			return b
		}, ReadOptions{}, 1, int64(entry2), ErrUnknownTemplate},
		{"bad PCR", func() []byte {
			b := good()
			le.PutUint32(b[entry2:], 99)
			return b
		}, ReadOptions{}, 1, int64(entry2), ErrBadPCR},
		{"garbage", func() []byte { return bytes.Repeat([]byte{0xee}, 100) }, ReadOptions{}, 0, 0, ErrByteOrder},
		{"forced wrong order", good, ReadOptions{Order: binary.BigEndian}, 0, 0, ErrBadPCR},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd := NewReader(bytes.NewReader(tc.data()), tc.opt)
			var err error
			for err == nil {
				_, err = rd.Next()
			}
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.entry, pe.Entry)
			assert.Equal(t, tc.offset, pe.Offset)
			assert.ErrorIs(t, err, tc.wantErr)
			_, again := rd.Next()
			assert.Equal(t, err, again, "errors are sticky")
		})
	}
	t.Run("empty", func(t *testing.T) {
		_, err := NewReader(bytes.NewReader(nil), ReadOptions{}).Next()
		assert.Equal(t, io.EOF, err)
	})
}

func TestBadASCII(t *testing.T) {
	tests := []struct {
		name, line string
		wantErr    error
	}{
		{"too few columns", "10 abcd", ErrSyntax},
		{"bad pcr", "x1 " + strings.Repeat("00", 20) + " ima-ng sha1:00 /a", ErrBadPCR},
		{"bad digest", "10 zz ima-ng sha1:00 /a", ErrSyntax},
		{"unknown template", "10 " + strings.Repeat("00", 20) + " foo sha1:00 /a", ErrUnknownTemplate},
		{"field count", "10 " + strings.Repeat("00", 20) + " ima-ng sha1:00", ErrFields},
		{"bad field hex", "10 " + strings.Repeat("00", 20) + " ima-ng sha1:0g /a", ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadASCIIList(strings.NewReader("10 "+strings.Repeat("11", 20)+" ima-ng sha1:00 /ok\n"+tc.line+"\n"), ReadOptions{})
			var pe *ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 1, pe.Entry)
			assert.Equal(t, int64(2), pe.Offset)
			assert.True(t, pe.Line)
			assert.True(t, errors.Is(err, tc.wantErr), "got %v", err)
		})
	}
}

func TestParsePCRs(t *testing.T) {
	sha1v := strings.Repeat("ab", 20)
	sha256v := strings.Repeat("cd", 32)
	tests := []struct {
		name    string
		text    string
		algo    Algo
		want    Quote
		wantErr string
	}{
		{"evmctl full", "PCR-00: " + sha1v + "\nPCR-10: " + sha1v + "\n", 0,
			Quote{SHA1: {0: unhex(t, sha1v), 10: unhex(t, sha1v)}}, ""},
		{"sparse", "PCR-10: " + sha1v + "\n", 0, Quote{SHA1: {10: unhex(t, sha1v)}}, ""},
		{"bare sysfs value", sha256v + "\n", SHA256, Quote{SHA256: {10: unhex(t, sha256v)}}, ""},
		{"bare ambiguous", sha256v + "\n", 0, nil, "sha256 or sm3"},
		{"bare sha384 inferred", strings.Repeat("01", 48), 0, Quote{SHA384: {10: bytes.Repeat([]byte{1}, 48)}}, ""},
		{"tpm1.2 sysfs spaced", "PCR-10: " + strings.TrimSpace(strings.Repeat("AB ", 20)) + "\n", 0, Quote{SHA1: {10: unhex(t, sha1v)}}, ""},
		{"tsspcrread", "pcrread: tsspcrread -halg sha1\n10: " + sha1v + "\n", 0, Quote{SHA1: {10: unhex(t, sha1v)}}, ""},
		{"tpm2_pcrread", "sha1:\n  10: 0x" + strings.ToUpper(sha1v) + "\nsha256:\n  10 : 0x" + sha256v + "\n", 0,
			Quote{SHA1: {10: unhex(t, sha1v)}, SHA256: {10: unhex(t, sha256v)}}, ""},
		{"wrong size for bank", "PCR-10: " + sha1v, SHA256, nil, "20-byte value for a sha256 bank"},
		{"duplicate", "PCR-10: " + sha1v + "\nPCR-10: " + sha1v, 0, nil, "twice"},
		{"bad pcr", "PCR-24: " + sha1v, 0, nil, "out of range"},
		{"empty", "# nothing\n", 0, nil, "no PCR values"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, err := ParsePCRs(strings.NewReader(tc.text), tc.algo)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, q)
		})
	}
}

func TestTemplates(t *testing.T) {
	tests := []struct {
		name    string
		fields  int
		wantErr bool
	}{
		{"ima", 2, false}, {"ima-ng", 2, false}, {"evm-sig", 9, false},
		{"d-ng|n-ng|sig|buf", 4, false}, {"d-ng||n-ng", 0, true}, {"d-ng|bogus", 0, true},
		{strings.Repeat("d|", 15) + "d", 0, true}, {"", 0, true},
	}
	for _, tc := range tests {
		tpl, err := LookupTemplate(tc.name)
		if tc.wantErr {
			assert.ErrorIs(t, err, ErrUnknownTemplate, "LookupTemplate(%q)", tc.name)
			continue
		}
		require.NoError(t, err, "LookupTemplate(%q)", tc.name)
		assert.Len(t, tpl.Fields, tc.fields)
		assert.Equal(t, tc.name, tpl.ListName())
	}
	_, err := NewEntry("ima-ng", 10, []byte{1})
	require.Error(t, err)
	_, err = NewEntry("ima-ng", 24, DigestNG("sha1", nil), Name("/x"))
	require.ErrorIs(t, err, ErrBadPCR)
	_, err = NewFileEntry("ima", 10, SHA256, make([]byte, 32), "/x")
	require.Error(t, err, "ima template holds only 20-byte digests")
}

// Extending entry by entry with ExtendDigest gives what the Replayer gives,
// in every mode and bank.
func TestExtendDigestMatchesReplay(t *testing.T) {
	l := allTemplates(t)
	banks := []Algo{SHA1, SHA256, SHA384, SHA512, SM3}
	res, err := l.Replay(ReplayConfig{Banks: banks})
	require.NoError(t, err)
	for _, tr := range res.Tracks {
		pcrs := map[int][]byte{}
		for _, e := range l.Entries {
			old, ok := pcrs[e.PCR]
			if !ok {
				old = make([]byte, tr.Bank.Size())
			}
			h := tr.Bank.New()
			h.Write(old)
			h.Write(e.ExtendDigest(tr.Bank, tr.Mode))
			pcrs[e.PCR] = h.Sum(nil)
		}
		for _, p := range tr.PCRs {
			assert.Equal(t, hex.EncodeToString(pcrs[p.PCR]), hex.EncodeToString(p.Value), "%s %s PCR %d", tr.Bank, tr.Mode, p.PCR)
		}
	}
	v, err := NewViolation("ima-ng", 10, SHA256, "/v")
	require.NoError(t, err)
	assert.Equal(t, append(bytes.Repeat([]byte{0xff}, 20), make([]byte, 12)...), v.PaddedDigest(32))
	assert.Equal(t, bytes.Repeat([]byte{0xff}, 32), v.ExtendDigest(SHA256, Fallback))
}
