package tpm_test

import (
	"context"
	"crypto"
	"fmt"

	"github.com/imasim/imasim/tpm"
)

// ExampleOpenContext shows how a caller picks a backend and the PCR that
// stands in for IMA's PCR 10.
func ExampleOpenContext() {
	p, err := tpm.OpenContext(context.Background(), "software", tpm.Options{PCR: 23})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	_ = p.Extend(tpm.IMAPCR, map[crypto.Hash][]byte{
		crypto.SHA1:   make([]byte, crypto.SHA1.Size()),
		crypto.SHA256: make([]byte, crypto.SHA256.Size()),
	})
	v, _ := p.Read(tpm.IMAPCR)
	fmt.Printf("%x\n", v[crypto.SHA1])
	// Output: b80de5d138758541c5f05265ad144ab9fa86d1db
}
