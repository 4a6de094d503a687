// Command auditgen writes a large synthetic kernel log for `make bench`:
// printk-timestamped INTEGRITY_RULE (1805) records with consecutive audit
// serials, an INTEGRITY_PCR violation and an ordinary kernel line now and
// then. With -distinct every rule record names its own file; otherwise the
// files repeat (500 of them).
//
// Usage: go run ./scripts/auditgen -mb 200 [-distinct] > dmesg.txt
// It prints the number of 1805 records on stderr.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strconv"
)

func main() {
	mb := flag.Int64("mb", 200, "size of the log in MiB")
	distinct := flag.Bool("distinct", false, "every 1805 record names a different file")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	size := *mb << 20
	var written int64
	var rules int
	serial := uint64(1)
	b := make([]byte, 0, 1024)
	b = append(b, "[    0.000000] Linux version 6.12.57+deb13-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.12.57-1 (2025-11-05)\n"...)
	for i := 0; written < size; i++ {
		sec, usec := i/1000, (i%1000)*1000
		stamp := func() {
			b = append(b, '[')
			s := strconv.Itoa(sec)
			for k := len(s); k < 5; k++ {
				b = append(b, ' ')
			}
			b = append(b, s...)
			b = append(b, '.')
			u := strconv.Itoa(usec)
			for k := len(u); k < 6; k++ {
				b = append(b, '0')
			}
			b = append(b, u...)
			b = append(b, "] "...)
		}
		stamp()
		file := i % 500
		if *distinct {
			file = i
		}
		b = fmt.Appendf(b, "audit: type=1805 audit(%d.%03d:%d): file=\"/usr/lib/x86_64-linux-gnu/pkg%d/libimasim%d.so.6\" hash=\"sha256:%064x\" ppid=1 pid=%d auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=\"sh\" exe=\"/usr/bin/dash\" subj=unconfined\n",
			1763805600+sec, i%1000, serial, file%97, file, i, 1000+i%30000)
		serial++
		rules++
		switch {
		case i%50 == 7:
			stamp()
			b = fmt.Appendf(b, "audit: type=1804 audit(%d.%03d:%d): pid=%d uid=0 auid=4294967295 ses=4294967295 subj=unconfined op=invalid_pcr cause=ToMToU comm=\"cat\" name=\"/tmp/f%d\" dev=\"vda\" ino=1234 res=1 errno=0\n",
				1763805600+sec, i%1000, serial, 300+i%1000, i%7)
			serial++
		case i%10 == 3:
			stamp()
			b = append(b, "virtio_net virtio0 enp0s3: renamed from eth0\n"...)
		}
		n, err := w.Write(b)
		if err != nil {
			fmt.Fprintln(os.Stderr, "auditgen:", err)
			os.Exit(1)
		}
		written += int64(n)
		b = b[:0]
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "auditgen:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, rules)
}
