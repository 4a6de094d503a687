// Package vm runs scenarios on real kernels: it fetches Debian cloud
// kernels (or takes the user's), builds an initramfs around the static
// imasim binary as guest agent, boots it under QEMU with swtpm, reads the
// agent's framed results back, and compares the real run with the model's
// prediction for the matching profile (VM.md).
//
// Layout: kernel.go (kernel specs, kernels.lock, apt), deb.go (.deb
// extraction), modules.go (module dependency order), cpio.go (newc
// writer), initramfs.go, boot.go (swtpm + QEMU), compare.go (model vs
// real, list replay with package measure). The guest agent lives in
// scenarios/vm/guest (it runs the steps through scenarios/real, the
// executor imasim probe uses on the host) and the wire format in
// scenarios/vm/frame.
//
// Known limitations: files carry no security.ima signatures, so with an
// appraise rule the kernel (ima_appraise=enforce) denies the exec; such
// scenarios fail in the guest. Debian 6.12.107 oopses (double fault in kmalloc, also
// during ACPI probing before any scenario step) in roughly one boot of
// three under QEMU 7.2 TCG on this project's machines, with any -cpu
// model; 6.1 and 7.2 never did. A crashed boot is reported and retried
// (Options.Retries).
package vm
