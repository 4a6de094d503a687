package main

import (
	"context"
	"io"
)

func cmdAudit(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("audit", stderr)
}
