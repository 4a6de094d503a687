package main

import (
	"context"
	"io"
)

func cmdScenario(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("scenario", stderr)
}

func cmdProfile(_ context.Context, _ []string, _, stderr io.Writer) int {
	return notYet("profile", stderr)
}
