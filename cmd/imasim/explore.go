package main

import (
	"context"
	"io"
)

func cmdExplore(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("explore", stderr)
}
