// Command agent writes each line of /rules.txt to the IMA policy file with
// one write(2) per rule and reports the result, so a real kernel says which
// rules it accepts. Nothing is loaded: a rejected write marks the policy
// invalid and the kernel drops it at close.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
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
