package main

import (
	"context"
	"io"
)

func cmdMatrix(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("matrix", stderr)
}
