package world

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

// DropDiskArrays empties the pool of spare disk arrays. It is bounded and
// holds nothing of any run's outcome; a test that measures what a campaign
// retains per run drops it first (simtest.DropCaches).
func DropDiskArrays() {
	diskMems.drop()
}

// FillSpareDiskArrays fills every spare array in the pool with b and says
// how many there are: a test poisons them to show that a run never sees
// what an earlier run left (simtest's TestSpareDiskArraysAreInvisible).
func FillSpareDiskArrays(b byte) (arrays int) {
	diskMems.each(func(m *diskMem) {
		for k := range m.spare {
			for _, a := range m.spare[k] {
				a = a[:cap(a)]
				for i := range a {
					a[i] = b
				}
				arrays++
			}
		}
	})
	return arrays
}
