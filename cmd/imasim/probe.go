package main

import (
	"context"
	"io"
)

func cmdProbe(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("probe", stderr)
}
