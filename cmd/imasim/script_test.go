package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary run as imasim itself: testscript.Main
// puts a copy named imasim-exe on PATH, whose main is the real one. The
// helper processes of the signal and probe tests exit from inside a test,
// which would leave that copy's directory behind: they get none.
func TestMain(m *testing.M) {
	if os.Getenv("IMASIM_MAIN_ARGS") != "" || os.Getenv("IMASIM_PROBE_HELPER") != "" {
		os.Exit(m.Run())
	}
	testscript.Main(m, map[string]func(){"imasim-exe": main})
}

// TestScripts runs the CLI behaviour tests in testdata/script/*.txtar:
// each holds commands, their expected output and exit status, and their
// input files. In a script,
//
//	imasim ARGS        runs imasim (a real process), which must exit 0
//	! imasim ARGS      runs imasim, which must fail; the next command
//	status N           must then say with which status
//
// $TESTDATA is the repository's testdata directory; [root] holds when
// the tests run as root. HOME and XDG_CACHE_HOME are the caller's, so
// the kernel cache is found.
func TestScripts(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", "..", "testdata"))
	if err != nil {
		t.Fatal(err)
	}
	// By its path, so a script may empty PATH (env PATH=).
	if imasimExe, err = exec.LookPath("imasim-exe"); err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("TESTDATA", root)
			for _, k := range []string{"HOME", "XDG_CACHE_HOME"} {
				if v, ok := os.LookupEnv(k); ok {
					e.Setenv(k, v)
				}
			}
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Geteuid() == 0, nil
			}
			return false, errors.New("unknown condition " + cond)
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"imasim": runImasim,
			"status": checkStatus,
		},
	})
}

var imasimExe string

// runImasim runs imasim-exe with args and keeps its exit status in
// $STATUS for a following status command.
func runImasim(ts *testscript.TestScript, neg bool, args []string) {
	err := ts.Exec(imasimExe, args...)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("imasim: %v", err)
		}
		code = ee.ExitCode()
	}
	ts.Setenv("STATUS", strconv.Itoa(code))
	switch {
	case neg && code == 0:
		ts.Fatalf("imasim succeeded, want a failure")
	case !neg && code != 0:
		ts.Fatalf("imasim exited %d, want 0", code)
	}
}

// checkStatus: status N, the exit status of the last imasim.
func checkStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: status N")
	}
	if got := ts.Getenv("STATUS"); got != args[0] {
		ts.Fatalf("imasim exited %s, want %s", got, args[0])
	}
}

// TestScriptsStateStatus: every "! imasim" in a script is followed by
// the status it must exit with, so no script settles for "some failure".
func TestScriptsStateStatus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "script", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		pending, n, at := false, 0, 0
		for sc.Scan() {
			n++
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "-- ") {
				break // the files section
			}
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			// Conditions prefix a command: [root] ! imasim ...
			for strings.HasPrefix(line, "[") {
				if i := strings.Index(line, "]"); i > 0 {
					line = strings.TrimSpace(line[i+1:])
				} else {
					break
				}
			}
			if pending && !strings.HasPrefix(line, "status ") {
				t.Errorf("%s:%d: ! imasim without a status line after it", f, at)
			}
			pending = strings.HasPrefix(line, "! imasim ")
			at = n
		}
		if pending {
			t.Errorf("%s:%d: ! imasim without a status line after it", f, at)
		}
	}
}
