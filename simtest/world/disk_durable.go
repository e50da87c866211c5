package world

import (
	"maps"
	"slices"
)

// DurableFile returns the durable content of the file durably linked at
// path: what any crash leaves of it for certain, and what a CrashDropAll
// crash leaves exactly. ok is false if no durable directory entry names a
// file there (it was never made durable, or its removal was). The slice is
// the disk's own: a checker reads it and must neither keep nor change it.
func (d *SimDisk) DurableFile(path string) (dur []byte, ok bool) {
	comps, err := diskAppendPath(nil, path)
	if err != nil || len(comps) == 0 {
		return nil, false
	}
	n := d.root
	for _, c := range comps {
		if !n.isDir {
			return nil, false
		}
		if n = n.durEnt[c]; n == nil {
			return nil, false
		}
	}
	if n.isDir {
		return nil, false
	}
	return n.dur, true
}

// DurableNames returns the sorted names durably linked in the directory
// durably linked at dir (nil if there is none).
func (d *SimDisk) DurableNames(dir string) []string {
	comps, err := diskAppendPath(nil, dir)
	if err != nil {
		return nil
	}
	n := d.root
	for _, c := range comps {
		if n = n.durEnt[c]; n == nil || !n.isDir {
			return nil
		}
	}
	return slices.Sorted(maps.Keys(n.durEnt))
}
