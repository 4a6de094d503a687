package guest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ScriptPATH is the PATH scripts run with: the host tools the initramfs
// carries (under /usr) come before busybox's applets (/bin).
const ScriptPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxOutput bounds what a script's output may take in the report.
const maxOutput = 4 << 20

// script runs one script and echoes its output to the console line by
// line (so the host's idle timeout sees progress and -v shows it). It
// runs in its own process group, killed when the script exits, so a
// background process it left cannot hold the output pipe open.
func (a *agent) script(sc Script) ScriptReport {
	rep := ScriptReport{Name: sc.Name, Exit: -1}
	a.logf("script %s", sc.Name)
	t0 := time.Now()
	sh := "/bin/sh" // busybox
	for _, p := range []string{"/usr/bin/sh", "/usr/bin/dash"} {
		if _, err := os.Stat(p); err == nil {
			sh = p // the host's dash (vm.DefaultTools): PATH decides, not busybox
			break
		}
	}
	cmd := exec.Command(sh, append([]string{sc.Path}, sc.Args...)...)
	cmd.Env = append([]string{"PATH=" + ScriptPATH, "HOME=/root", "TMPDIR=/tmp", "TERM=dumb",
		"LD_LIBRARY_PATH=" + LibDir}, sc.Env...)
	cmd.Dir = sc.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/tmp"
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		rep.Err = err.Error()
		return rep
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	var (
		out bytes.Buffer
		wg  sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer pr.Close()
		br := bufio.NewReaderSize(pr, 64<<10)
		for {
			line, err := br.ReadString('\n')
			if line != "" {
				if out.Len()+len(line) <= maxOutput {
					out.WriteString(line)
				} else if !rep.Truncated {
					rep.Truncated = true
				}
				a.logf("| %s", strings.TrimRight(line, "\n"))
			}
			if err != nil {
				return
			}
		}
	}()
	err = cmd.Start()
	pw.Close()
	if err == nil {
		err = cmd.Wait()
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left running
	}
	wg.Wait()
	rep.Output = out.String()
	if rep.Truncated {
		rep.Output += fmt.Sprintf("[imasim: output truncated at %d bytes]\n", maxOutput)
	}
	rep.Ms = float64(time.Since(t0).Microseconds()) / 1000
	var ee *exec.ExitError
	switch {
	case err == nil:
		rep.Exit = 0
	case errors.As(err, &ee) && ee.Exited():
		rep.Exit = ee.ExitCode()
	default:
		rep.Err = err.Error()
	}
	a.logf("script %s: exit %d", sc.Name, rep.Exit)
	return rep
}

// LibDir is where the initramfs puts the host tools' shared libraries.
const LibDir = "/lib/x86_64-linux-gnu"
