package tpm

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Backend names, as they appear in specs and error messages.
const (
	BackendSoftware  = "software"
	BackendSimulator = "simulator"
	BackendSwtpm     = "swtpm"
	BackendDevice    = "device"
)

// DefaultDevice is the kernel's TPM resource-manager device
// (Linux v6.12: drivers/char/tpm/tpmrm-dev.c).
const DefaultDevice = "/dev/tpmrm0"

// Spec is a parsed backend spec (see the package comment).
type Spec struct {
	// Backend is one of the Backend* names.
	Backend string
	// Network is "" for a private swtpm, "unix" or "tcp" to connect to a
	// running swtpm; Addr is then its data socket path or HOST:PORT.
	Network, Addr string
	// Ctrl is the running swtpm's control channel (a Unix path, or a
	// HOST:PORT for tcp), empty if not given.
	Ctrl string
	// Path is the device path (device backend).
	Path string
}

// ParseSpec parses a backend spec; "" means software.
func ParseSpec(spec string) (Spec, error) {
	bad := func(format string, a ...any) (Spec, error) {
		return Spec{}, fmt.Errorf("tpm: bad spec %q: %s", spec, fmt.Sprintf(format, a...))
	}
	name, rest, hasRest := strings.Cut(spec, ":")
	switch name {
	case "", BackendSoftware, BackendSimulator:
		if hasRest {
			return bad("%s takes no arguments", name)
		}
		if name == "" {
			name = BackendSoftware
		}
		return Spec{Backend: name}, nil
	case BackendDevice:
		if !hasRest {
			return Spec{Backend: name, Path: DefaultDevice}, nil
		}
		if rest == "" || strings.Contains(rest, ",") {
			return bad("want device:PATH with a non-empty path without commas")
		}
		return Spec{Backend: name, Path: rest}, nil
	case BackendSwtpm:
		if !hasRest {
			return Spec{Backend: name}, nil
		}
	default:
		return bad("unknown backend %q (want software, simulator, swtpm[:unix:PATH|:tcp:HOST:PORT][,ctrl=...] or device[:PATH])", name)
	}

	network, rest, ok := strings.Cut(rest, ":")
	if !ok || (network != "unix" && network != "tcp") {
		return bad("want swtpm:unix:DATA_SOCK[,ctrl=CTRL_SOCK] or swtpm:tcp:HOST:PORT[,ctrl=PORT]")
	}
	s := Spec{Backend: name, Network: network}
	addr, opts, hasOpts := strings.Cut(rest, ",")
	if addr == "" {
		return bad("missing %s address", network)
	}
	for opt := range strings.SplitSeq(opts, ",") {
		if !hasOpts {
			break
		}
		k, v, _ := strings.Cut(opt, "=")
		if k != "ctrl" || v == "" {
			return bad("unknown option %q (want ctrl=...)", opt)
		}
		if s.Ctrl != "" {
			return bad("ctrl given twice")
		}
		s.Ctrl = v
	}
	if network == "unix" {
		s.Addr = addr
		return s, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad("data address: %v", err)
	}
	if err := checkPort(port); err != nil {
		return bad("data port: %v", err)
	}
	s.Addr = net.JoinHostPort(host, port)
	if s.Ctrl != "" {
		chost, cport, err := net.SplitHostPort(s.Ctrl)
		if err != nil { // a bare port on the data host
			chost, cport = host, s.Ctrl
		}
		if err := checkPort(cport); err != nil {
			return bad("ctrl port: %v", err)
		}
		s.Ctrl = net.JoinHostPort(chost, cport)
	}
	return s, nil
}

func checkPort(p string) error {
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 || strconv.FormatUint(n, 10) != p {
		return fmt.Errorf("%q is not a port number 1..65535", p)
	}
	return nil
}

// String renders s in the spec syntax; ParseSpec(s.String()) == s.
func (s Spec) String() string {
	switch s.Backend {
	case BackendDevice:
		if s.Path == DefaultDevice {
			return BackendDevice
		}
		return BackendDevice + ":" + s.Path
	case BackendSwtpm:
		if s.Network == "" {
			return BackendSwtpm
		}
		out := BackendSwtpm + ":" + s.Network + ":" + s.Addr
		if s.Ctrl != "" {
			out += ",ctrl=" + s.Ctrl
		}
		return out
	}
	return s.Backend
}

// FreshAtOpen tells whether the backend spec starts from zeroed PCRs at
// every open: all do but a running swtpm without a ctrl= channel to
// power-cycle it.
func FreshAtOpen(spec string) bool {
	if strings.HasPrefix(spec, BackendSwtpm+":") {
		return strings.Contains(spec, "ctrl=")
	}
	return true
}
