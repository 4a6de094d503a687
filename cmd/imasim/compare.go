package main

import (
	"context"
	"io"
)

func cmdCompare(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("compare", stderr)
}
