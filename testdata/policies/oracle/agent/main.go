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
