package scenarios

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"sort"
	"strings"
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

// Load resolves a built-in name or a path to a scenario file.
func Load(nameOrPath string) (*Scenario, error) {
	if b, ok := BuiltinSource(nameOrPath); ok {
		return Parse(bytes.NewReader(b), "builtin:"+nameOrPath)
	}
	if strings.ContainsAny(nameOrPath, "/.") {
		b, err := os.ReadFile(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("scenario: %w", err)
		}
		return Parse(bytes.NewReader(b), nameOrPath)
	}
	return nil, fmt.Errorf("unknown scenario %q (built-in: %s; or give a path to a scenario file)", nameOrPath, strings.Join(BuiltinNames(), ", "))
}
