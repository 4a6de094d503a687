package measure_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/imasim/imasim/measure"
)

// The writer API a scenario engine uses: build entries, append them with
// the kernel's dedup rule, write the kernel's files, replay.
func ExampleList() {
	var l measure.List
	ba, _ := measure.NewBootAggregate("ima-ng", measure.SHA256, nil) // no TPM: zero digest
	l.Append(ba)
	d := sha256.Sum256([]byte("#!/bin/sh\necho v1\n"))
	e, _ := measure.NewFileEntry("ima-ng", 10, measure.SHA256, d[:], "/usr/bin/test prog")
	fmt.Println("added:", l.Append(e))
	fmt.Println("added again:", l.Append(e)) // same digest and PCR: deduplicated
	v, _ := measure.NewViolation("ima-ng", 10, measure.SHA256, "/tmp/log")
	fmt.Println("violation added:", l.Append(v))

	l.WriteASCII(os.Stdout, 0)

	var bin bytes.Buffer
	l.WriteBinary(&bin, measure.WriteOptions{})
	res, _ := measure.Replay(measure.NewReader(&bin, measure.ReadOptions{}),
		measure.ReplayConfig{Banks: []measure.Algo{measure.SHA1}})
	fmt.Printf("PCR 10 (sha1): %x\n", res.Tracks[0].PCRs[0].Value)
	// Output:
	// added: true
	// added again: false
	// violation added: true
	// 10 0adefe762c149c7cec19da62f0da1297fcfbffff ima-ng sha256:0000000000000000000000000000000000000000000000000000000000000000 boot_aggregate
	// 10 b5d30e11ab9a59503286acdabce38a210b2c4225 ima-ng sha256:667f61a069b75f1f57fc561623da00e013e144221e8ea54de2803da9dd8aa952 /usr/bin/test_prog
	// 10 0000000000000000000000000000000000000000 ima-ng sha256:0000000000000000000000000000000000000000000000000000000000000000 /tmp/log
	// PCR 10 (sha1): b0e380e803c8dc75a0372c4ba666f71b9b430729
}
