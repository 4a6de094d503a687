package scenarios

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"sort"
	"strings"

	"github.com/imasim/imasim/internal/input"
)

//go:embed builtin/*.scn
var builtinFS embed.FS

// BuiltinNames lists the built-in scenarios, sorted.
func BuiltinNames() []string {
	ents, _ := builtinFS.ReadDir("builtin")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".scn"))
	}
	sort.Strings(out)
	return out
}

// BuiltinSource returns a built-in scenario's file text.
func BuiltinSource(name string) ([]byte, bool) {
	b, err := builtinFS.ReadFile("builtin/" + name + ".scn")
	return b, err == nil
}

// Load resolves a built-in name or a path to a scenario file and checks
// its policy (as the newest modelled kernel parses it).
func Load(nameOrPath string) (*Scenario, error) {
	return LoadContext(context.Background(), nameOrPath)
}

// LoadContext is Load whose file read gives way when ctx ends (a FIFO
// with no writer). Files over input.MaxScenario are refused.
func LoadContext(ctx context.Context, nameOrPath string) (*Scenario, error) {
	var sc *Scenario
	var err error
	if b, ok := BuiltinSource(nameOrPath); ok {
		sc, err = Parse(bytes.NewReader(b), "builtin:"+nameOrPath)
	} else if strings.ContainsAny(nameOrPath, "/.") {
		b, rerr := input.ReadFile(ctx, nameOrPath, input.MaxScenario)
		if rerr != nil {
			return nil, fmt.Errorf("scenario: %w", rerr)
		}
		sc, err = Parse(bytes.NewReader(b), nameOrPath)
	} else {
		return nil, fmt.Errorf("unknown scenario %q (built-in: %s; or give a path to a scenario file)", nameOrPath, strings.Join(BuiltinNames(), ", "))
	}
	if err != nil {
		return nil, err
	}
	if _, err := ParsePolicy(sc); err != nil {
		return nil, err
	}
	return sc, nil
}
