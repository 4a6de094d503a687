// Command capture is the /init of a throwaway initramfs: it makes a Linux
// kernel measure files with several IMA templates, violations included,
// then prints the kernel's measurement lists and TPM PCRs on the console
// (base64 between markers) and powers off. capture.sh boots it under QEMU
// with swtpm and stores the result next to this directory.
package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func must(err error, what string) {
	if err != nil {
		fmt.Printf("capture: %s: %v\n", what, err)
	}
}

// rules are tried as a whole, largest set first: a kernel rejects the
// whole policy if one rule (an unknown template) is bad.
var policies = [][]string{
	{
		dontSysfs, dontSecurityfs, dontProc,
		"measure func=FILE_CHECK mask=MAY_READ fowner=1001 template=ima-ng",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1002 template=evm-sig",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1003 template=ima-buf",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1004 template=ima-ngv2",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1005 template=ima-sigv2",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1006 template=ima-modsig",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1007 pcr=11",
		"measure func=FILE_CHECK mask=MAY_READ",
	},
	{
		dontSysfs, dontSecurityfs, dontProc,
		"measure func=FILE_CHECK mask=MAY_READ fowner=1001 template=ima-ng",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1002 template=evm-sig",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1003 template=ima-buf",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1006 template=ima-modsig",
		"measure func=FILE_CHECK mask=MAY_READ fowner=1007 pcr=11",
		"measure func=FILE_CHECK mask=MAY_READ",
	},
	{dontSysfs, dontSecurityfs, dontProc, "measure func=FILE_CHECK mask=MAY_READ"},
}

// Reading the lists and PCRs must not add entries after they are read.
// (Not tmpfs: the files measured live on the tmpfs rootfs.)
const (
	dontSysfs      = "dont_measure fsmagic=0x62656572"
	dontSecurityfs = "dont_measure fsmagic=0x73636673"
	dontProc       = "dont_measure fsmagic=0x9fa0"
)

func loadPolicy() {
	for _, rules := range policies {
		f, err := os.OpenFile("/sys/kernel/security/ima/policy", os.O_WRONLY, 0)
		if err != nil {
			must(err, "open policy")
			return
		}
		ok := true
		for _, r := range rules {
			if _, err := f.Write([]byte(r + "\n")); err != nil {
				fmt.Printf("capture: rule %q: %v\n", r, err)
				ok = false
				break
			}
		}
		f.Close()
		if ok {
			fmt.Printf("capture: policy loaded (%d rules)\n", len(rules))
			return
		}
	}
}

func writeFile(path, content string, uid int) {
	must(os.WriteFile(path, []byte(content), 0o644), "write "+path)
	must(os.Chown(path, uid, uid), "chown "+path)
}

func read(path string) {
	_, err := os.ReadFile(path)
	must(err, "read "+path)
}

func main() {
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"},
		{"securityfs", "/sys/kernel/security", "securityfs"}, {"devtmpfs", "/dev", "devtmpfs"},
	} {
		os.MkdirAll(m.dst, 0o755)
		must(syscall.Mount(m.src, m.dst, m.typ, 0, ""), "mount "+m.dst)
	}
	loadPolicy()
	os.MkdirAll("/data", 0o755)
	for uid := 1000; uid <= 1007; uid++ {
		p := fmt.Sprintf("/data/file with space %d", uid)
		writeFile(p, fmt.Sprintf("content of %d\n", uid), uid)
		if uid == 1000 || uid == 1005 || uid == 1006 {
			// A DIGSIG-typed security.ima shows in ima-sig's sig field.
			must(syscall.Setxattr(p, "security.ima", []byte{3, 2, 1, 0, 0, 0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef}, 0), "setxattr "+p)
		}
		read(p)
		read(p) // cached: no second entry
	}
	// Same content, other name: a new entry; same name, new content: too.
	writeFile("/data/copy", "content of 1000\n", 1000)
	read("/data/copy")
	writeFile("/data/copy", "changed\n", 1000)
	read("/data/copy")
	// open_writers violation: read while a writer has the file open.
	w, err := os.OpenFile("/data/written", os.O_CREATE|os.O_WRONLY, 0o644)
	must(err, "open writer")
	read("/data/written")
	w.Close()
	// ToMToU violation: open for write while a reader has it open.
	writeFile("/data/tomtou", "x\n", 0)
	r, err := os.Open("/data/tomtou")
	must(err, "open reader")
	w2, err := os.OpenFile("/data/tomtou", os.O_WRONLY, 0)
	must(err, "open writer 2")
	w2.Close()
	r.Close()

	dump()
	syscall.Sync()
	time.Sleep(200 * time.Millisecond)
	must(syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF), "power off")
}

func emit(name string, data []byte) {
	fmt.Printf("=====BEGIN %s=====\n", name)
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 0 {
		n := min(len(enc), 76)
		fmt.Println(enc[:n])
		enc = enc[n:]
	}
	fmt.Printf("=====END %s=====\n", name)
}

func dump() {
	cmdline, _ := os.ReadFile("/proc/cmdline")
	version, _ := os.ReadFile("/proc/version")
	emit("version", version)
	emit("cmdline", cmdline)
	files, _ := filepath.Glob("/sys/kernel/security/ima/*")
	sort.Strings(files)
	for _, f := range files {
		if strings.HasSuffix(f, "/policy") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Printf("capture: %s: %v\n", f, err)
			continue
		}
		emit(filepath.Base(f), b)
	}
	var pcrs bytes.Buffer
	banks, _ := filepath.Glob("/sys/class/tpm/tpm0/pcr-*")
	sort.Strings(banks)
	for _, b := range banks {
		fmt.Fprintf(&pcrs, "%s:\n", strings.TrimPrefix(filepath.Base(b), "pcr-"))
		for i := 0; i < 24; i++ {
			v, err := os.ReadFile(fmt.Sprintf("%s/%d", b, i))
			if err == nil {
				fmt.Fprintf(&pcrs, "  %d: %s\n", i, strings.TrimSpace(string(v)))
			}
		}
	}
	emit("pcrs", pcrs.Bytes())
}
