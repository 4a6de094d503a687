// Package vm runs scenarios on real kernels: it fetches Debian cloud
// kernels (or takes the user's), builds an initramfs around the static
// imasim binary as guest agent, boots it under QEMU with swtpm, reads the
// agent's framed results back, and compares the real run with the model's
// prediction for the matching profile (README.md, "Real kernels").
//
// Layout: kernel.go (kernel specs, kernels.lock, apt), deb.go (.deb
// extraction), modules.go (module dependency order), cpio.go (newc
// writer), initramfs.go, boot.go (swtpm + QEMU), compare.go (model vs
// real, list replay with package measure). The guest agent lives in
// scenarios/vm/guest (it runs the steps through scenarios/real, the
// executor imasim probe uses on the host) and the wire format in
// scenarios/vm/frame.
//
// Files carry no security.ima signatures, so a boot whose policy appraises
// runs with ima_appraise=log (appraised and logged, not refused). Sleep
// steps are capped at guest.MaxSleep (plus sync(2) for 30 s and more), and
// plan.go splits long policy groups so that Options.Parallel VMs finish
// together. Debian 6.12.107 double-faults in SLUB's
// cmpxchg16b fast path in about one TCG boot of three under QEMU 7.2
// unless the CPU model lacks cx16, so TCG boots use -cpu qemu64,-cx16; a
// crashed boot is still reported and retried (Options.Retries).
package vm
