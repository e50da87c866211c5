package world

import "sync"

// sharedPool is a bounded stack of idle things that a campaign's
// concurrent runs hand on to each other between runs: worker coroutines
// (workers.go) and disks' spare arrays (diskmem_pool.go). Which run left
// a thing in it must be invisible to the run that takes it; each user
// says why that holds.
type sharedPool[T any] struct {
	mu   sync.Mutex
	idle []T
	max  int // things kept at most
}

// get takes the most recently kept thing, if any.
func (p *sharedPool[T]) get() (T, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var zero T
	n := len(p.idle)
	if n == 0 {
		return zero, false
	}
	x := p.idle[n-1]
	p.idle[n-1] = zero
	p.idle = p.idle[:n-1]
	return x, true
}

// put keeps x, and reports false when the pool is full and did not.
func (p *sharedPool[T]) put(x T) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.idle) >= p.max {
		return false
	}
	p.idle = append(p.idle, x)
	return true
}

// each calls fn on every kept thing, under the pool's lock (tests).
func (p *sharedPool[T]) each(fn func(T)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, x := range p.idle {
		fn(x)
	}
}

// drop forgets every kept thing.
func (p *sharedPool[T]) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.idle)
	p.idle = p.idle[:0]
}
