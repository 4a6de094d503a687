package audit

import (
	"io"
	"os"
	"testing"
)

func BenchmarkLocalFile(b *testing.B) {
	path := os.Getenv("AUDIT_FILE")
	if path == "" {
		b.Skip("AUDIT_FILE")
	}
	sum := os.Getenv("AUDIT_TEXT") == ""
	data, _ := os.ReadFile(path)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		_, err := WriteText(io.Discard, &Bytes{Data: data}, ReportOptions{Name: "x", Summary: sum})
		if err != nil {
			b.Fatal(err)
		}
	}
}
