package vfs

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Dump writes out every field of the world's state, the objects it
// points to by name (a superblock by mount point, an inode by where it
// is named), for tests that compare two worlds: a clone and a world
// restored to the same state (Save, Restore). It walks the fields by
// reflection, so a field added later is compared too.
func (w *World) Dump() string {
	d := w.dumper()
	d.printf("world")
	// mountGen numbers mount lists across all worlds: a clone that
	// mounts gets another number than its original that mounts.
	d.fields(reflect.ValueOf(w).Elem(), "arena", "mounts", "mountGen")
	for _, m := range w.mounts {
		d.printf("\nmount %s:", m.at)
		d.fields(reflect.ValueOf(m.sb).Elem(), "files", "ovlInodes")
		for _, set := range [2][]dirent{m.sb.files, m.sb.ovlInodes} {
			for _, e := range set {
				d.printf("\n  %q", e.rel)
				d.fields(reflect.ValueOf(e.ino).Elem())
			}
		}
	}
	return d.b.String()
}

// DumpInode is Dump's form of one inode of w (an open file's): its name,
// or its fields when it has none.
func (w *World) DumpInode(i *Inode) string {
	if i == nil {
		return "nil"
	}
	d := w.dumper()
	d.name(i)
	return d.b.String()
}

// dumper returns a dumper that names the world's objects.
func (w *World) dumper() *dumper {
	d := &dumper{names: map[any]string{}, clock: w.Clock}
	for _, m := range w.mounts {
		d.names[m.sb] = "sb" + m.at
		for _, e := range m.sb.files {
			d.names[e.ino] = "ino" + m.at + "/" + e.rel
		}
		for _, e := range m.sb.ovlInodes {
			d.names[e.ino] = "ovl" + m.at + "/" + e.rel
		}
	}
	return d
}

type dumper struct {
	b     strings.Builder
	names map[any]string
	clock *Clock
}

func (d *dumper) printf(f string, a ...any) { fmt.Fprintf(&d.b, f, a...) }

// fields writes v's fields but those skipped.
func (d *dumper) fields(v reflect.Value, skip ...string) {
	t := v.Type()
next:
	for k := 0; k < t.NumField(); k++ {
		for _, s := range skip {
			if t.Field(k).Name == s {
				continue next
			}
		}
		d.printf(" %s=", t.Field(k).Name)
		d.value(v.Field(k))
	}
}

// value writes one value: pointers to the world's objects by name.
func (d *dumper) value(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			d.printf("nil")
			return
		}
		switch p := v.UnsafePointer(); v.Type().Elem() {
		case reflect.TypeOf(Super{}):
			d.name((*Super)(p))
		case reflect.TypeOf(Inode{}):
			d.name((*Inode)(p))
		case reflect.TypeOf(Clock{}):
			d.printf("clock(own=%v now=%d)", (*Clock)(p) == d.clock, (*Clock)(p).now)
		case reflect.TypeOf(Model{}):
			d.printf("model(%s)", (*Model)(p).Name)
		default:
			d.printf("{")
			d.value(v.Elem())
			d.printf("}")
		}
	case reflect.Struct:
		d.printf("{")
		d.fields(v)
		d.printf("}")
	case reflect.Slice:
		if v.IsNil() {
			d.printf("nil")
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			d.printf("%q", v.Bytes())
			return
		}
		d.printf("[")
		for k := 0; k < v.Len(); k++ {
			d.value(v.Index(k))
			d.printf(",")
		}
		d.printf("]")
	case reflect.Map:
		if v.IsNil() {
			d.printf("nil")
			return
		}
		var keys []string
		for it := v.MapRange(); it.Next(); {
			var kb dumper
			kb.names, kb.clock = d.names, d.clock
			kb.value(it.Key())
			kb.printf(":")
			kb.value(it.Value())
			keys = append(keys, kb.b.String())
		}
		sort.Strings(keys)
		d.printf("map[%s]", strings.Join(keys, ","))
	case reflect.String:
		d.printf("%q", v.String())
	case reflect.Bool:
		d.printf("%v", v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.printf("%d", v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		d.printf("%d", v.Uint())
	default:
		panic("vfs: Dump cannot write a " + v.Kind().String())
	}
}

// name writes the name of an object of the world, or its fields when it
// has none (an inode no longer named).
func (d *dumper) name(p any) {
	if n, ok := d.names[p]; ok {
		d.printf("%s", n)
		return
	}
	d.printf("unnamed{")
	d.fields(reflect.ValueOf(p).Elem())
	d.printf("}")
}
