package main

import (
	"context"
	"io"
)

func cmdVM(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("vm", stderr)
}
