package simtest

import "sync"

// diskMemPool keeps the spare arrays of ended runs' disks for the next
// run's disk (SimDisk.release), on any goroutine: a campaign's runs write
// their files from empty again and again. What a spare array held is
// invisible to every run, as each one overwrites or clears what it takes.
type diskMemPool struct {
	mu   sync.Mutex
	idle []*diskMem
}

// diskMemsKept bounds the pool: a campaign has one disk per worker alive.
// With diskMemMax, the pool holds at most 256 MiB, and about 1 MiB per
// campaign worker in practice.
const diskMemsKept = 64

var diskMems diskMemPool

func (p *diskMemPool) get() *diskMem {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return &diskMem{}
	}
	m := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return m
}

func (p *diskMemPool) put(m *diskMem) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) < diskMemsKept {
		p.idle = append(p.idle, m)
	}
}

// DropCaches empties the process-wide caches runs share: the spare disk
// arrays and the initdb images. Both are bounded and hold nothing of any
// run's outcome; a test that measures what a campaign retains per run
// drops them first.
func DropCaches() {
	diskMems.mu.Lock()
	diskMems.idle = nil
	diskMems.mu.Unlock()
	images.Lock()
	images.m = nil
	images.Unlock()
}
