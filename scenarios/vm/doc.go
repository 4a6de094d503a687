// Package vm runs scenarios on real kernels: it fetches Debian cloud
// kernels (or takes the user's), builds an initramfs around the static
// imasim binary as guest agent, boots it under QEMU with swtpm, reads the
// agent's framed results back, and compares the real run with the model's
// prediction for the matching profile (VM.md).
//
// Layout: kernel.go (kernel specs, kernels.lock, apt), deb.go (.deb
// extraction), modules.go (module dependency order), cpio.go (newc
// writer), initramfs.go, boot.go (swtpm + QEMU), compare.go (model vs
// real, list replay). The guest side lives in scenarios/vm/guest and the
// wire format in scenarios/vm/frame.
package vm
