//go:build !amd64

package audit

func prefetch(addr uintptr) {}
