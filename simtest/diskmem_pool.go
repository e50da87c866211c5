package simtest

// diskMems keeps the spare arrays of ended runs' disks for the next run's
// disk (SimDisk.release), on any goroutine: a campaign's runs write their
// files from empty again and again. What a spare array held is invisible
// to every run, as each one overwrites or clears what it takes
// (TestSpareDiskArraysAreInvisible).
var diskMems = sharedPool[*diskMem]{max: diskMemsKept}

// diskMemsKept bounds the pool: a campaign has one disk per worker alive.
// With diskMemMax, the pool holds at most 256 MiB, and about 1 MiB per
// campaign worker in practice.
const diskMemsKept = 64

// getDiskMem takes a released disk's spare arrays, or an empty set.
func getDiskMem() *diskMem {
	if m, ok := diskMems.get(); ok {
		return m
	}
	return &diskMem{}
}

// DropCaches empties the process-wide caches runs share: the spare disk
// arrays and the initdb images. Both are bounded and hold nothing of any
// run's outcome; a test that measures what a campaign retains per run
// drops them first.
func DropCaches() {
	diskMems.drop()
	images.Lock()
	images.m = nil
	images.Unlock()
}
