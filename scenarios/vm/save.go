package vm

import (
	"errors"
	"fmt"
	"os"

	"github.com/imasim/imasim/scenarios/vm/frame"
)

// saveRoot opens dir (creating it) for --save. Names written into it come
// from the guest (frame names) or from scenario files, so every write
// goes through an os.Root: a name must be one plain path component
// (frame.ValidName) and a symlink in dir is not followed out of it.
func saveRoot(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("save: %w", err)
	}
	return r, nil
}

// saveFile writes one capture into root.
func saveFile(root *os.Root, name string, b []byte) error {
	if !frame.ValidName(name) {
		return fmt.Errorf("save: refusing the file name %q (not one plain path component)", name)
	}
	// No O_TRUNC through a symlink: an existing symlink is replaced,
	// never written through.
	if fi, err := root.Lstat(name); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("save: %s/%s is a symlink; not writing through it", root.Name(), name)
	}
	if err := root.WriteFile(name, b, 0o644); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	return nil
}

// saveFiles writes a boot's captures; a bad name is reported and the
// others are still written.
func saveFiles(root *os.Root, files map[string][]byte) error {
	var errs []error
	for name, b := range files {
		errs = append(errs, saveFile(root, name, b))
	}
	return errors.Join(errs...)
}

// SaveName turns a host-side name (a script's file name) into one plain
// path component: other bytes become '_', a leading '.' too.
func SaveName(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !frame.ValidName(string(c)) && !(c == '.' && i > 0) {
			b[i] = '_'
		}
	}
	s := string(b)
	if len(s) > frame.MaxName-8 {
		s = s[:frame.MaxName-8]
	}
	if s == "" {
		s = "_"
	}
	return s
}
