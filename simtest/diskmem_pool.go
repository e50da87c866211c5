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
const diskMemsKept = 16

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
