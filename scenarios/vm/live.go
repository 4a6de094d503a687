package vm

import (
	"os"
	"sort"
	"sync"
	"syscall"
	"time"
)

// live tracks the QEMU and swtpm processes and the work directories of
// the boots running in this process, so that Abandon can end them when
// the user will not wait for the normal cleanup (a second Ctrl-C).
var live = struct {
	sync.Mutex
	procs map[int]bool    // pids, each its own process group leader or not
	dirs  map[string]bool // work dir -> kept (--keep)
}{procs: map[int]bool{}, dirs: map[string]bool{}}

// trackProc records a started process; the returned func forgets it.
func trackProc(pid int, group bool) func() {
	live.Lock()
	live.procs[pid] = group
	live.Unlock()
	return func() {
		live.Lock()
		delete(live.procs, pid)
		live.Unlock()
	}
}

// trackDir records a work directory (kept: --keep, named but not
// removed by Abandon); the returned func forgets it.
func trackDir(dir string, kept bool) func() {
	live.Lock()
	live.dirs[dir] = kept
	live.Unlock()
	return func() {
		live.Lock()
		delete(live.dirs, dir)
		live.Unlock()
	}
}

// Abandon kills every QEMU and swtpm this process started (SIGKILL) and
// tries, for at most d, to remove their work directories (not those kept
// with --keep). It returns the directories still there, for the caller
// to name.
func Abandon(d time.Duration) []string {
	live.Lock()
	for pid, group := range live.procs {
		if group {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
		syscall.Kill(pid, syscall.SIGKILL)
	}
	var dirs, rm []string
	for dir, kept := range live.dirs {
		dirs = append(dirs, dir)
		if !kept {
			rm = append(rm, dir)
		}
	}
	live.Unlock()
	done := make(chan struct{})
	go func() {
		for _, dir := range rm {
			os.RemoveAll(dir)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
	var left []string
	for _, dir := range dirs {
		if _, err := os.Lstat(dir); err == nil {
			left = append(left, dir)
		}
	}
	sort.Strings(left)
	return left
}
