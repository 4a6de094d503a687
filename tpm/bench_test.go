package tpm

import (
	"context"
	"crypto"
	"os"
	"testing"
)

// BenchmarkExtend measures PCR extends per second per backend, each extend
// carrying a SHA-1 and a SHA-256 digest (IMA's two usual banks).
// device-pty is the device backend on a swtpm behind a pseudo-terminal; the
// real device backend runs only with IMASIM_BENCH_DEVICE=1 (or a device path): it
// extends the machine's PCR 23.
func BenchmarkExtend(b *testing.B) {
	banks := []crypto.Hash{crypto.SHA1, crypto.SHA256}
	digests := digestsOf(banks, "imasim bench")
	backends := []struct {
		name string
		spec func(b *testing.B) string
	}{
		{"software", func(*testing.B) string { return "software" }},
		{"simulator", func(b *testing.B) string {
			if !SimulatorAvailable {
				b.Skip("simulator not in this build: go test -tags tpmsim")
			}
			return "simulator"
		}},
		{"swtpm", func(b *testing.B) string { needSwtpm(b); return "swtpm" }},
		{"swtpm-tcp", func(b *testing.B) string {
			s := startExternalSwtpm(b, "tcp")
			return "swtpm:tcp:" + s.data + ",ctrl=" + s.ctrl
		}},
		{"device-pty", func(b *testing.B) string { return "device:" + startPtySwtpm(b) }},
		{"device", func(b *testing.B) string {
			dev := os.Getenv("IMASIM_BENCH_DEVICE")
			switch dev {
			case "":
				b.Skip("set IMASIM_BENCH_DEVICE=1 (or a device path) to extend this machine's PCR 23")
			case "1":
				dev = DefaultDevice
			}
			return "device:" + dev
		}},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			p, err := OpenContext(context.Background(), be.spec(b), Options{Banks: banks})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.ResetTimer()
			for b.Loop() {
				if err := p.Extend(IMAPCR, digests); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "extends/s")
		})
	}
}
