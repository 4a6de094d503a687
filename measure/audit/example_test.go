package audit_test

import (
	"fmt"
	"strings"

	"github.com/imasim/imasim/measure/audit"
)

const exampleLog = `[    0.100000] Linux version 6.12.57+deb13-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.12.57-1
[    0.200000] audit: type=2000 audit(1763805600.100:1): state=initialized audit_enabled=0 res=1
[    5.000000] audit: type=1805 audit(1763805605.000:2): file="/usr/bin/true" hash="sha256:00ff" ppid=1 pid=70 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=ttyS0 ses=1 comm="sh" exe="/bin/busybox"
[    5.100000] kauditd_printk_skb: 4 callbacks suppressed
[    5.200000] audit: type=1804 audit(1763805605.200:7): pid=71 uid=0 auid=0 ses=1 op=invalid_pcr cause=ToMToU comm="cat" name="/tmp/f" dev="vda" ino=12 res=1 errno=0
`

func ExampleScanner() {
	s := audit.NewScanner(strings.NewReader(exampleLog))
	for s.Scan() {
		r := s.Record()
		fmt.Println(r.Line, r.Type, r.Serial, r.Path(), r.Violation())
	}
	if err := s.Err(); err != nil {
		fmt.Println(err)
	}
	k, _ := s.Kernel()
	fmt.Println("kernel", k.Release, "upstream", k.Upstream)
	loss := s.Loss()
	fmt.Println("lossy:", loss.Lossy())
	for _, e := range loss.Evidence {
		fmt.Println(e)
	}
	// Output:
	// 3 INTEGRITY_RULE 2 /usr/bin/true false
	// 5 INTEGRITY_PCR 7 /tmp/f true
	// kernel 6.12.57+deb13-cloud-amd64 upstream 6.12.57
	// lossy: true
	// line 4: ratelimit: [    5.100000] kauditd_printk_skb: 4 callbacks suppressed
	// line 5: serial-gap: audit serials 3-6 missing (4 records) between lines 3 and 5
}

func ExampleCount() {
	t, err := audit.Count(strings.NewReader(exampleLog), audit.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.Rules, t.Violations, t.Loss.MissingSerials)
	// Output:
	// map[/usr/bin/true:1] map[/tmp/f:map[ToMToU:1]] 4
}
