// Package guest is the imasim guest agent: it runs inside the VM as
// `imasim vm guest JOB` (started by the initramfs /init), loads the
// modules and the IMA policy, runs each scenario's steps with real
// syscalls, collects the audit records (type 1800-1808) per step, the
// binary measurement list, the violations counter and PCR 10 of each bank,
// and ships them to the host over the frame channel.
//
// The steps run through scenarios/real, the executor `imasim probe` uses
// on the host; the agent adds the VM side: modules, policy, audit record
// collection per step, and the results channel.
package guest

import "time"

// EnvMarker is set to 1 by the initramfs /init; the agent refuses to run
// without it (it mounts over /dev and powers the machine off).
const EnvMarker = "IMASIM_GUEST"

// MaxSleep caps a scenario's sleep step in the guest. Scenarios sleep for
// time to pass (coarse timestamps tick every few ms: any cap well above
// that does) or, at 30 s and more, for the flusher to write back: after
// those the agent also calls sync(2).
const MaxSleep = 200 * time.Millisecond

// Job is what the host puts into the initramfs (as JSON).
type Job struct {
	Nonce     string     `json:"nonce"`
	Modules   []string   `json:"modules"` // initramfs paths, load order
	Policy    string     `json:"policy"`  // written once (no CONFIG_IMA_WRITE_POLICY)
	ResultDev string     `json:"result_dev"`
	Scenarios []Scenario `json:"scenarios"`
	// Scripts run after the scenarios, one after another.
	Scripts []Script `json:"scripts,omitempty"`
	// Settle is how long the kernel log must stay quiet after a step before
	// its audit records are taken as complete (kauditd runs asynchronously).
	Settle time.Duration `json:"settle"`
}

// Scenario is one scenario to run under Root (paths are prefixed with it
// so several scenarios can share one boot).
type Scenario struct {
	Name   string       `json:"name"`
	Source string       `json:"source"` // scenario file text
	Root   string       `json:"root"`
	Disks  map[int]Disk `json:"disks"` // by line of the fs step
}

// Script is a shell script the agent runs as root with /bin/sh (imasim vm
// run, exported reproducers, the LTP shell tests). Busybox's applets and
// the host tools the initramfs carries are on PATH.
type Script struct {
	Name string   `json:"name"`
	Path string   `json:"path"` // in the guest
	Args []string `json:"args,omitempty"`
	Env  []string `json:"env,omitempty"` // KEY=value, on top of the agent's
	Dir  string   `json:"dir,omitempty"` // working directory (default /tmp)
}

// ScriptReport is how a script ended: its exit status (-1 when it could
// not start or was killed) and its stdout and stderr, interleaved.
type ScriptReport struct {
	Name   string `json:"name"`
	Exit   int    `json:"exit"`
	Output string `json:"output"`
	// Truncated says the output went past the agent's bound (the rest is
	// only on the console).
	Truncated bool    `json:"truncated,omitempty"`
	Err       string  `json:"error,omitempty"`
	Ms        float64 `json:"ms"`
}

// Disk is a host-made filesystem image attached as a virtio disk.
type Disk struct {
	Serial string `json:"serial"`
	FSType string `json:"fstype"`
}

// Report is the agent's structured result (report.json).
type Report struct {
	Release   string             `json:"release"`
	Scenarios []ScenarioReport   `json:"scenarios"`
	Scripts   []ScriptReport     `json:"scripts,omitempty"`
	Errors    []string           `json:"errors,omitempty"`
	Bypass    bool               `json:"tpm_bypass"`
	Timing    map[string]float64 `json:"timing_s"`
}

// ScenarioReport is one scenario's real run.
type ScenarioReport struct {
	Name string `json:"name"`
	Root string `json:"root"`
	Err  string `json:"error,omitempty"`
	// Unsupported is set when the executor cannot perform a step here
	// (real.CannotRunError, e.g. AT_EXECVE_CHECK before 6.14).
	Unsupported string       `json:"unsupported,omitempty"`
	Steps       []StepReport `json:"steps"`
	// Final is the sha256 of each scenario file path at the end of the
	// run (scenario path, without Root), hashed after the last step so the
	// reads cannot disturb the experiment.
	Final map[string]string `json:"final_sha256,omitempty"`
}

// StepReport is one step: its error and the audit records that appeared
// while it ran (raw text after "audit: ").
type StepReport struct {
	Line  int      `json:"line"`
	Op    string   `json:"op"`
	Err   string   `json:"error,omitempty"`
	Audit []string `json:"audit,omitempty"`
	Ms    float64  `json:"ms"`
	// Seen is what the step saw (scenarios.Seen: a read's content, a
	// fstat's changes), "" for most steps.
	Seen string `json:"seen,omitempty"`
}

// Files the agent ships.
const (
	FileReport  = "report.json"
	FileAudit   = "audit.log"
	FileDmesg   = "dmesg.txt"
	FileBinList = "binary_runtime_measurements"
	FileASCII   = "ascii_runtime_measurements"
	FileViol    = "violations"
	FilePCRSHA1 = "pcr-sha1-10"
	FilePCR256  = "pcr-sha256-10"
	FilePolicy  = "policy"
	// FileEventLog is the firmware's TPM event log, when the guest has one.
	FileEventLog = "binary_bios_measurements"
	// FilePCRs is PCRs 0-9 of the sha1 and sha256 banks, one
	// "BANK INDEX HEX" line each: what boot_aggregate is made of.
	FilePCRs = "pcrs-0-9"
)
