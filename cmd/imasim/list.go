package main

import (
	"context"
	"io"
)

func cmdList(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("list", stderr)
}
