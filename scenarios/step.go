package scenarios

import (
	"strconv"
	"strings"
)

// Typed steps.
//
// Parse turns every step line into one of the Op types below (Write,
// Open, Mmap...), holding its arguments already parsed. Three programs
// run steps, each by implementing Visitor: the model engine (engine.go),
// the real executor (scenarios/real, which the VM guest agent runs) and
// the shell exporter (export.go). Step.Touches says which paths a step
// names, opens, changes or makes executable, for the code that scans a
// scenario (tracked files, exec'd programs, audit path mapping).
//
// Adding an operation NAME:
//  1. Add a type NAME with its parsed fields and the two methods every Op
//     has (Name, visit), and a method NAME(NAME) error to Visitor. Every
//     implementation of Visitor then fails to compile until it handles
//     the op: engine (scenarios), exporter (scenarios), do
//     (scenarios/real) and toucher (here, for Step.Touches).
//  2. Add its line syntax to ops in format.go (argument counts, options,
//     usage) and to builders here (the tokens to the typed value). Value
//     checks go in checkStep (format.go), which also tracks handles
//     across steps.
//  3. Document it in docs/scenarios.md; give it a test in each program
//     (TestExportCoversEveryOp lists the ops).

// Op is a step's typed operation. The set is closed: only this package
// defines ops.
type Op interface {
	// Name is the operation's keyword in the scenario format.
	Name() string
	visit(Visitor) error
}

// Visitor runs typed steps: one method per operation.
type Visitor interface {
	FS(FS) error
	Mkdir(Mkdir) error
	Overlay(Overlay) error
	Write(Write) error
	Append(Append) error
	Overwrite(Overwrite) error
	Truncate(Truncate) error
	Copy(Copy) error
	Chmod(Chmod) error
	Chown(Chown) error
	Touch(Touch) error
	Setxattr(Setxattr) error
	Open(Open) error
	Read(Read) error
	Mmap(Mmap) error
	Mprotect(Mprotect) error
	Close(Close) error
	Exec(Exec) error
	Execveat(Execveat) error
	Rename(Rename) error
	Unlink(Unlink) error
	Sync(Sync) error
	DropCaches(DropCaches) error
	Sleep(Sleep) error
	Remount(Remount) error
}

// opName is the step's operation keyword ("step" without one).
func opName(st Step) string {
	if st.Op == nil {
		return "step"
	}
	return st.Op.Name()
}

// Visit runs the step's op through v.
func (st Step) Visit(v Visitor) error { return st.Op.visit(v) }

// Creds are a step's uid= and gid= options: gid defaults to uid, both to
// 0. Set says whether either was given.
type Creds struct {
	UID, GID uint32
	Set      bool
}

// FS mounts a new filesystem: fs TYPE MOUNTPOINT [OPTION...].
type FS struct {
	Type, Mount string
	Options     []string
}

// Mkdir makes a directory and its parents: mkdir PATH.
type Mkdir struct{ Path string }

// Overlay mounts overlayfs: overlay MOUNTPOINT lower=DIR[:DIR] [upper=DIR
// work=DIR]. Upper and Work are both empty for a read-only overlay.
type Overlay struct {
	Mount       string
	Lower       []string
	Upper, Work string
}

// Write creates or truncates a file and writes Data (open O_CREAT|O_TRUNC
// with Mode), or writes Data through the open Handle at its offset.
// Exactly one of Path and Handle is set.
type Write struct {
	Path, Handle string
	Data         string
	Mode         uint32
	Creds
}

// Append appends Data to a file, or writes it at the end through Handle.
type Append struct {
	Path, Handle string
	Data         string
	Creds
}

// Overwrite writes Data in place at the start of the file's content (no
// O_TRUNC), or through Handle.
type Overwrite struct {
	Path, Handle string
	Data         string
	Creds
}

// Truncate sets a file's size: truncate PATH SIZE.
type Truncate struct {
	Path string
	Size int64
}

// Copy copies Src's content to Dst (created or truncated with Mode).
type Copy struct {
	Src, Dst string
	Mode     uint32
}

// Chmod sets a file's mode.
type Chmod struct {
	Path string
	Mode uint32
}

// Chown sets a file's owner; GID is UID unless GIDSet.
type Chown struct {
	Path     string
	UID, GID uint32
	GIDSet   bool
}

// Touch sets a file's atime and mtime to now.
type Touch struct{ Path string }

// Setxattr sets an extended attribute.
type Setxattr struct{ Path, Attr, Value string }

// OpenMode is an open step's access: r, w, rw, a (append) or trunc.
type OpenMode string

// Open modes.
const (
	OpenRead      OpenMode = "r"
	OpenWrite     OpenMode = "w"
	OpenReadWrite OpenMode = "rw"
	OpenAppend    OpenMode = "a"
	OpenTrunc     OpenMode = "trunc"
)

// Open opens an existing file and keeps it as Handle until its close.
type Open struct {
	Handle, Path string
	Mode         OpenMode
	Creds
}

// Read reads a handle's file to the end.
type Read struct{ Handle string }

// Mmap maps a handle's file, PROT_EXEC when Exec.
type Mmap struct {
	Handle string
	Exec   bool
}

// Mprotect maps a handle's file PROT_READ, then adds PROT_EXEC.
type Mprotect struct{ Handle string }

// Close closes a handle.
type Close struct{ Handle string }

// Exec runs a file as a program.
type Exec struct {
	Path string
	Creds
}

// Execveat checks a file with execveat(AT_EXECVE_CHECK), not running it.
type Execveat struct {
	Path string
	Creds
}

// Rename renames From to To.
type Rename struct{ From, To string }

// Unlink removes a file.
type Unlink struct{ Path string }

// Sync is sync(2).
type Sync struct{}

// DropCaches drops clean caches, dentries and inodes (drop_caches = 3).
type DropCaches struct{}

// Sleep waits NS nanoseconds.
type Sleep struct{ NS int64 }

// Remount remounts Mount with Options.
type Remount struct {
	Mount   string
	Options []string
}

func (FS) Name() string         { return "fs" }
func (Mkdir) Name() string      { return "mkdir" }
func (Overlay) Name() string    { return "overlay" }
func (Write) Name() string      { return "write" }
func (Append) Name() string     { return "append" }
func (Overwrite) Name() string  { return "overwrite" }
func (Truncate) Name() string   { return "truncate" }
func (Copy) Name() string       { return "copy" }
func (Chmod) Name() string      { return "chmod" }
func (Chown) Name() string      { return "chown" }
func (Touch) Name() string      { return "touch" }
func (Setxattr) Name() string   { return "setxattr" }
func (Open) Name() string       { return "open" }
func (Read) Name() string       { return "read" }
func (Mmap) Name() string       { return "mmap" }
func (Mprotect) Name() string   { return "mprotect" }
func (Close) Name() string      { return "close" }
func (Exec) Name() string       { return "exec" }
func (Execveat) Name() string   { return "execveat" }
func (Rename) Name() string     { return "rename" }
func (Unlink) Name() string     { return "unlink" }
func (Sync) Name() string       { return "sync" }
func (DropCaches) Name() string { return "drop_caches" }
func (Sleep) Name() string      { return "sleep" }
func (Remount) Name() string    { return "remount" }

func (o FS) visit(v Visitor) error         { return v.FS(o) }
func (o Mkdir) visit(v Visitor) error      { return v.Mkdir(o) }
func (o Overlay) visit(v Visitor) error    { return v.Overlay(o) }
func (o Write) visit(v Visitor) error      { return v.Write(o) }
func (o Append) visit(v Visitor) error     { return v.Append(o) }
func (o Overwrite) visit(v Visitor) error  { return v.Overwrite(o) }
func (o Truncate) visit(v Visitor) error   { return v.Truncate(o) }
func (o Copy) visit(v Visitor) error       { return v.Copy(o) }
func (o Chmod) visit(v Visitor) error      { return v.Chmod(o) }
func (o Chown) visit(v Visitor) error      { return v.Chown(o) }
func (o Touch) visit(v Visitor) error      { return v.Touch(o) }
func (o Setxattr) visit(v Visitor) error   { return v.Setxattr(o) }
func (o Open) visit(v Visitor) error       { return v.Open(o) }
func (o Read) visit(v Visitor) error       { return v.Read(o) }
func (o Mmap) visit(v Visitor) error       { return v.Mmap(o) }
func (o Mprotect) visit(v Visitor) error   { return v.Mprotect(o) }
func (o Close) visit(v Visitor) error      { return v.Close(o) }
func (o Exec) visit(v Visitor) error       { return v.Exec(o) }
func (o Execveat) visit(v Visitor) error   { return v.Execveat(o) }
func (o Rename) visit(v Visitor) error     { return v.Rename(o) }
func (o Unlink) visit(v Visitor) error     { return v.Unlink(o) }
func (o Sync) visit(v Visitor) error       { return v.Sync(o) }
func (o DropCaches) visit(v Visitor) error { return v.DropCaches(o) }
func (o Sleep) visit(v Visitor) error      { return v.Sleep(o) }
func (o Remount) visit(v Visitor) error    { return v.Remount(o) }

// IsHandle reports whether a step argument names a handle (%NAME).
func IsHandle(a string) bool { return strings.HasPrefix(a, "%") }

// Touched is what a step names and changes, by path (handles are not
// paths; an overlay's layers are in its Overlay op).
type Touched struct {
	// Paths are its path arguments in order, mount points included.
	Paths []string
	// Files are the files it opens, changes, runs or renames by path.
	Files []string
	// Changes are the paths whose content it writes or replaces.
	Changes []string
	// Execs are the paths it runs or leaves with an executable mode.
	Execs []string
	// From and To: the content at To now comes from From (copy, rename).
	From, To string
}

// Touches says what the step names and changes.
func (st Step) Touches() Touched {
	var t toucher
	_ = st.Visit(&t)
	return t.t
}

// toucher fills a Touched (a Visitor, so every op says what it touches).
type toucher struct{ t Touched }

func (t *toucher) paths(ps ...string) { t.t.Paths = append(t.t.Paths, ps...) }

// file is a file argument: a path, a file and possibly changed or run.
func (t *toucher) file(p string, changed, exec bool) {
	t.paths(p)
	t.t.Files = append(t.t.Files, p)
	if changed {
		t.t.Changes = append(t.t.Changes, p)
	}
	if exec {
		t.t.Execs = append(t.t.Execs, p)
	}
}

func (t *toucher) FS(o FS) error           { t.paths(o.Mount); return nil }
func (t *toucher) Mkdir(o Mkdir) error     { t.paths(o.Path); return nil }
func (t *toucher) Overlay(o Overlay) error { t.paths(o.Mount); return nil }
func (t *toucher) Write(o Write) error {
	if o.Handle == "" {
		t.file(o.Path, true, o.Mode&0o111 != 0)
	}
	return nil
}
func (t *toucher) Append(o Append) error {
	if o.Handle == "" {
		t.file(o.Path, true, false)
	}
	return nil
}
func (t *toucher) Overwrite(o Overwrite) error {
	if o.Handle == "" {
		t.file(o.Path, true, false)
	}
	return nil
}
func (t *toucher) Truncate(o Truncate) error { t.file(o.Path, true, false); return nil }
func (t *toucher) Copy(o Copy) error {
	t.file(o.Src, false, false)
	t.file(o.Dst, true, o.Mode&0o111 != 0)
	t.t.From, t.t.To = o.Src, o.Dst
	return nil
}
func (t *toucher) Chmod(o Chmod) error       { t.file(o.Path, false, o.Mode&0o111 != 0); return nil }
func (t *toucher) Chown(o Chown) error       { t.file(o.Path, false, false); return nil }
func (t *toucher) Touch(o Touch) error       { t.file(o.Path, false, false); return nil }
func (t *toucher) Setxattr(o Setxattr) error { t.file(o.Path, false, false); return nil }
func (t *toucher) Open(o Open) error         { t.file(o.Path, false, false); return nil }
func (t *toucher) Read(Read) error           { return nil }
func (t *toucher) Mmap(Mmap) error           { return nil }
func (t *toucher) Mprotect(Mprotect) error   { return nil }
func (t *toucher) Close(Close) error         { return nil }
func (t *toucher) Exec(o Exec) error         { t.file(o.Path, false, true); return nil }
func (t *toucher) Execveat(o Execveat) error { t.file(o.Path, false, true); return nil }
func (t *toucher) Rename(o Rename) error {
	t.file(o.From, false, false)
	t.file(o.To, true, false)
	t.t.From, t.t.To = o.From, o.To
	return nil
}
func (t *toucher) Unlink(o Unlink) error       { t.file(o.Path, false, false); return nil }
func (t *toucher) Sync(Sync) error             { return nil }
func (t *toucher) DropCaches(DropCaches) error { return nil }
func (t *toucher) Sleep(Sleep) error           { return nil }
func (t *toucher) Remount(o Remount) error     { t.paths(o.Mount); return nil }

// build functions turn a step's tokens into its typed op. Parse has
// checked the counts; the values are checked by checkStep, which runs
// on the typed op, so parse errors here are ignored.
type buildFunc func(a []string, o map[string]string) Op

func u32(s string, base int) uint32 {
	n, _ := strconv.ParseUint(s, base, 32)
	return uint32(n)
}

func modeOpt(o map[string]string) uint32 {
	if v, ok := o["mode"]; ok {
		return u32(v, 8)
	}
	return 0o644
}

func credsOpt(o map[string]string) Creds {
	var c Creds
	if v, ok := o["uid"]; ok {
		c.UID, c.GID, c.Set = u32(v, 10), u32(v, 10), true
	}
	if v, ok := o["gid"]; ok {
		c.GID, c.Set = u32(v, 10), true
	}
	return c
}

// target splits a path-or-handle argument.
func target(a string) (path, handle string) {
	if IsHandle(a) {
		return "", a
	}
	return a, ""
}

var builders = map[string]buildFunc{
	"fs":    func(a []string, o map[string]string) Op { return FS{Type: a[0], Mount: a[1], Options: a[2:]} },
	"mkdir": func(a []string, o map[string]string) Op { return Mkdir{a[0]} },
	"overlay": func(a []string, o map[string]string) Op {
		return Overlay{Mount: a[0], Lower: strings.Split(o["lower"], ":"), Upper: o["upper"], Work: o["work"]}
	},
	"write": func(a []string, o map[string]string) Op {
		p, h := target(a[0])
		return Write{Path: p, Handle: h, Data: a[1], Mode: modeOpt(o), Creds: credsOpt(o)}
	},
	"append": func(a []string, o map[string]string) Op {
		p, h := target(a[0])
		return Append{Path: p, Handle: h, Data: a[1], Creds: credsOpt(o)}
	},
	"overwrite": func(a []string, o map[string]string) Op {
		p, h := target(a[0])
		return Overwrite{Path: p, Handle: h, Data: a[1], Creds: credsOpt(o)}
	},
	"truncate": func(a []string, o map[string]string) Op {
		n, _ := strconv.ParseInt(a[1], 10, 64)
		return Truncate{Path: a[0], Size: n}
	},
	"copy":  func(a []string, o map[string]string) Op { return Copy{Src: a[0], Dst: a[1], Mode: modeOpt(o)} },
	"chmod": func(a []string, o map[string]string) Op { return Chmod{Path: a[0], Mode: u32(a[1], 8)} },
	"chown": func(a []string, o map[string]string) Op {
		u, g, hasG := strings.Cut(a[1], ":")
		c := Chown{Path: a[0], UID: u32(u, 10), GIDSet: hasG && g != ""}
		c.GID = c.UID
		if c.GIDSet {
			c.GID = u32(g, 10)
		}
		return c
	},
	"touch":    func(a []string, o map[string]string) Op { return Touch{a[0]} },
	"setxattr": func(a []string, o map[string]string) Op { return Setxattr{Path: a[0], Attr: a[1], Value: a[2]} },
	"open": func(a []string, o map[string]string) Op {
		return Open{Handle: a[0], Path: a[1], Mode: OpenMode(a[2]), Creds: credsOpt(o)}
	},
	"read":     func(a []string, o map[string]string) Op { return Read{a[0]} },
	"mmap":     func(a []string, o map[string]string) Op { return Mmap{Handle: a[0], Exec: a[1] == "exec"} },
	"mprotect": func(a []string, o map[string]string) Op { return Mprotect{a[0]} },
	"close":    func(a []string, o map[string]string) Op { return Close{a[0]} },
	"exec":     func(a []string, o map[string]string) Op { return Exec{Path: a[0], Creds: credsOpt(o)} },
	"execveat": func(a []string, o map[string]string) Op { return Execveat{Path: a[0], Creds: credsOpt(o)} },
	"rename":   func(a []string, o map[string]string) Op { return Rename{From: a[0], To: a[1]} },
	"unlink":   func(a []string, o map[string]string) Op { return Unlink{a[0]} },
	"sync":     func(a []string, o map[string]string) Op { return Sync{} },
	"drop_caches": func(a []string, o map[string]string) Op {
		return DropCaches{}
	},
	"sleep": func(a []string, o map[string]string) Op {
		ns, _ := ParseDuration(a[0])
		return Sleep{ns}
	},
	"remount": func(a []string, o map[string]string) Op { return Remount{Mount: a[0], Options: a[1:]} },
}
