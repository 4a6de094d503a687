// Command agent is the guest side of run.sh.
//
// Without arguments it writes each line of /rules.txt to the IMA policy
// file with one write(2) per rule and reports the result, so a real kernel
// says which rules it accepts. Nothing is loaded: a rejected write marks
// the policy invalid and the kernel drops it at close.
//
// With "match" (booted with ima_policy=tcb) it executes and reads files on
// a fresh tmpfs and reports which of them the built-in policy measured.
// With "noop" it exits at once (the program run from tmpfs).
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "noop":
			return
		case "match":
			match()
			return
		case "custom":
			custom()
			return
		case "as":
			as(os.Args[2:])
			return
		}
	}
	rules()
}

// match runs accesses on tmpfs and prints the ones IMA measured.
func match() {
	must := func(err error) {
		if err != nil {
			fmt.Println("ORACLE-ERR", err)
			os.Exit(1)
		}
	}
	must(os.MkdirAll("/t", 0o755))
	must(syscall.Mount("tmpfs", "/t", "tmpfs", 0, ""))
	self, err := os.ReadFile("/proc/self/exe")
	must(err)
	must(os.WriteFile("/t/prog", self, 0o755))
	must(os.WriteFile("/t/data", []byte("data\n"), 0o644))
	for _, p := range []string{"/", "/t"} {
		var st syscall.Statfs_t
		must(syscall.Statfs(p, &st))
		fmt.Printf("ORACLE-FS %s 0x%x\n", p, uint64(st.Type))
	}
	must(exec.Command("/t/prog", "noop").Run()) // BPRM_CHECK, root, tmpfs
	_, err = os.ReadFile("/t/data")             // FILE_CHECK MAY_READ, root, tmpfs
	must(err)
	ml, err := os.ReadFile("/sys/kernel/security/ima/ascii_runtime_measurements")
	must(err)
	for _, name := range []string{"/agent", "/t/prog", "/t/data"} {
		measured := "no"
		for _, l := range strings.Split(string(ml), "\n") {
			if strings.HasSuffix(l, " "+name) || strings.Contains(l, " "+name+" ") {
				measured = "yes"
			}
		}
		fmt.Printf("ORACLE-MEASURED %s %s\n", name, measured)
	}
	fmt.Println("ORACLE-END")
}

// custom loads /policy.txt, makes accesses with several credentials on a
// fresh tmpfs and reports for each file whether it was measured (with PCR
// and template) and audited.
func custom() {
	must := func(err error) {
		if err != nil {
			fmt.Println("ORACLE-ERR", err)
			os.Exit(1)
		}
	}
	must(os.WriteFile("/proc/sys/kernel/printk_ratelimit", []byte("0\n"), 0))
	pol, err := os.ReadFile("/policy.txt")
	must(err)
	f, err := os.OpenFile("/sys/kernel/security/ima/policy", os.O_WRONLY, 0)
	must(err)
	for _, l := range strings.Split(strings.TrimSuffix(string(pol), "\n"), "\n") {
		_, err := f.Write([]byte(l + "\n"))
		must(err)
	}
	must(f.Close())
	must(os.MkdirAll("/t", 0o755))
	must(syscall.Mount("tmpfs", "/t", "tmpfs", 0, "mode=0755"))
	self, err := os.ReadFile("/proc/self/exe")
	must(err)
	for _, n := range []string{"prog", "prog1000"} {
		must(os.WriteFile("/t/"+n, self, 0o755))
	}
	must(os.Chown("/t/prog1000", 1000, 1000))
	for _, n := range []string{"f1", "f2", "f3"} {
		must(os.WriteFile("/t/"+n, []byte(n+"\n"), 0o644))
	}
	// name: ruid euid suid, then what to do
	steps := [][]string{
		{"0", "0", "0", "exec", "/t/prog"},
		{"0", "0", "0", "exec", "/t/prog1000"},
		{"1000", "0", "0", "read", "/t/f1"},
		{"0", "1000", "0", "read", "/t/f2"},
		{"1000", "1000", "1000", "read", "/t/f3"},
	}
	for _, st := range steps {
		must(exec.Command("/proc/self/exe", append([]string{"as"}, st...)...).Run())
	}
	ml, err := os.ReadFile("/sys/kernel/security/ima/ascii_runtime_measurements")
	must(err)
	kmsg := readKmsg()
	for _, st := range steps {
		name := st[4]
		res := "measured=no"
		for _, l := range strings.Split(string(ml), "\n") {
			fl := strings.Fields(l)
			if len(fl) >= 5 && fl[4] == name {
				res = fmt.Sprintf("measured=yes pcr=%s template=%s", fl[0], fl[2])
			}
		}
		audited := "no"
		if strings.Contains(kmsg, "file=\""+name+"\"") {
			audited = "yes"
		}
		fmt.Printf("ORACLE-ACCESS %s %s audited=%s\n", name, res, audited)
	}
	fmt.Println("ORACLE-END")
}

// as sets the real, effective and saved uid, then execs or reads a file.
func as(a []string) {
	var ids [3]int
	for i := range ids {
		fmt.Sscan(a[i], &ids[i])
	}
	if err := syscall.Setresuid(ids[0], ids[1], ids[2]); err != nil {
		fmt.Println("ORACLE-ERR setresuid", err)
		os.Exit(1)
	}
	var err error
	if a[3] == "exec" {
		err = exec.Command(a[4], "noop").Run()
	} else {
		_, err = os.ReadFile(a[4])
	}
	if err != nil {
		fmt.Println("ORACLE-ERR", a, err)
		os.Exit(1)
	}
}

// readKmsg returns the kernel log so far (raw syscalls: the Go poller
// would wait on a non-blocking /dev/kmsg instead of returning EAGAIN).
func readKmsg() string {
	fd, err := syscall.Open("/dev/kmsg", syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return ""
	}
	defer syscall.Close(fd)
	var b strings.Builder
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EPIPE {
			continue // a record was overwritten; go on
		}
		if err != nil || n <= 0 {
			break
		}
		b.Write(buf[:n])
	}
	return b.String()
}

// rules writes each rule of /rules.txt and prints "ORACLE N ok|fail".
func rules() {
	data, err := os.ReadFile("/rules.txt")
	if err != nil {
		fmt.Println("ORACLE-ERR", err)
		return
	}
	f, err := os.OpenFile("/sys/kernel/security/ima/policy", os.O_WRONLY, 0)
	if err != nil {
		fmt.Println("ORACLE-ERR", err)
		return
	}
	w := bufio.NewWriter(os.Stdout)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	for i, l := range lines {
		n, err := f.Write([]byte(l + "\n"))
		res := "ok"
		if err != nil {
			res = "fail"
		} else if n != len(l)+1 {
			res = fmt.Sprintf("short %d", n)
		}
		fmt.Fprintf(w, "ORACLE %d %s\n", i+1, res)
	}
	// Make sure nothing gets loaded at close.
	f.Write([]byte("no_such_action\n"))
	fmt.Fprintln(w, "ORACLE-END")
	w.Flush()
	f.Close()
}
