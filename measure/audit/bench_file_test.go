package audit

import (
	"io"
	"os"
	"testing"
)

// BenchmarkReportFile writes the report of the log named by
// IMASIM_AUDIT_FILE (e.g. one made by scripts/auditgen), read in place as
// `imasim audit` reads a regular file: --summary, or the full text report
// when IMASIM_AUDIT_TEXT is set. For profiling:
//
//	IMASIM_AUDIT_FILE=/tmp/dmesg go test -run '^$' -bench ReportFile -benchtime 1x -cpuprofile cpu.out ./measure/audit
func BenchmarkReportFile(b *testing.B) {
	path := os.Getenv("IMASIM_AUDIT_FILE")
	if path == "" {
		b.Skip("set IMASIM_AUDIT_FILE to a log")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	o := ReportOptions{Name: path, Summary: os.Getenv("IMASIM_AUDIT_TEXT") == ""}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := WriteText(io.Discard, &Bytes{Data: data}, o); err != nil {
			b.Fatal(err)
		}
	}
}
