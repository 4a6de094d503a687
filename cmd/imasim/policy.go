package main

import (
	"context"
	"io"
)

func cmdPolicy(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("policy", stderr)
}
