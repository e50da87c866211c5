package simtest

import "sync"

// workerPool keeps idle workers between runs, for the next run on any
// goroutine (a coroutine may be resumed from another goroutine than the
// one that made it, as long as neither is locked to its thread). Which
// worker runs a process is invisible to the simulation.
type workerPool struct {
	mu   sync.Mutex
	idle []*worker
}

// workersKept bounds the pool: a run needs a few dozen at most, and a
// campaign runs one per core at a time.
const workersKept = 256

var workers workerPool

func (wp *workerPool) get() *worker {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	n := len(wp.idle)
	if n == 0 {
		return nil
	}
	w := wp.idle[n-1]
	wp.idle[n-1] = nil
	wp.idle = wp.idle[:n-1]
	return w
}

// put keeps w, idle (parked in its yield, with no process), or ends it
// when the pool is full.
func (wp *workerPool) put(w *worker) {
	w.s, w.p = nil, nil
	wp.mu.Lock()
	if len(wp.idle) < workersKept {
		wp.idle = append(wp.idle, w)
		w = nil
	}
	wp.mu.Unlock()
	if w != nil {
		w.stop()
	}
}

// DrainWorkers ends every idle worker, so that a test can count the
// goroutines a run left behind.
func DrainWorkers() {
	for w := workers.get(); w != nil; w = workers.get() {
		w.stop()
	}
}
