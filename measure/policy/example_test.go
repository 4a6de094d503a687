package policy_test

import (
	"fmt"
	"strings"

	"github.com/imasim/imasim/measure/policy"
)

func ExamplePolicy_Match() {
	p, err := policy.Parse(strings.NewReader("audit func=BPRM_CHECK uid=65534\nmeasure func=BPRM_CHECK fowner=0\n"), "example")
	if err != nil {
		panic(err)
	}
	xfs, _ := policy.LookupFS("xfs")
	d := p.Match(policy.Attrs{Func: policy.BprmCheck, Mask: policy.MayExec,
		UID: 65534, EUID: 65534, FSMagic: xfs.Magic, FSName: xfs.Name}.WithDefaultCaps())
	fmt.Println(d.Actions, d.PCR, d.Rules)
	// Output: measure|audit 10 [0 1]
}

func ExampleBuiltinKernel() {
	tmpfs, _ := policy.LookupFS("tmpfs")
	exec := policy.Attrs{Func: policy.BprmCheck, Mask: policy.MayExec, FSMagic: tmpfs.Magic}.WithDefaultCaps()
	for _, v := range []string{"6.12", "7.2"} {
		ver, _ := policy.ParseVersion(v)
		p, _ := policy.BuiltinKernel("tcb", policy.Kernel{Version: ver})
		fmt.Printf("Linux %s, tcb, exec on tmpfs: %s\n", v, p.Match(exec).Actions)
	}
	// Output:
	// Linux 6.12, tcb, exec on tmpfs: none
	// Linux 7.2, tcb, exec on tmpfs: measure
}

func ExampleParse_error() {
	_, err := policy.Parse(strings.NewReader("measure func=FILE_CHECK euid=0 uid=0\n"), "my.policy")
	fmt.Println(err)
	// Output: my.policy:1:32: uid: the rule already has a uid or euid condition (the kernel keeps one for both)
}
