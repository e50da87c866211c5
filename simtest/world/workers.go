package world

// workers keeps idle workers between runs, for the next run on any
// goroutine (a coroutine may be resumed from another goroutine than the
// one that made it, as long as neither is locked to its thread). Which
// worker runs a process is invisible to the simulation.
var workers = sharedPool[*worker]{max: workersKept}

// workersKept bounds the pool: a run needs a few dozen at most, and a
// campaign runs one per core at a time.
const workersKept = 256

// getWorker takes an idle worker, or returns nil.
func getWorker() *worker {
	w, _ := workers.get()
	return w
}

// putWorker keeps w, idle (parked in its yield, with no process), or ends
// it when the pool is full.
func putWorker(w *worker) {
	w.s, w.p = nil, nil
	if !workers.put(w) {
		w.stop()
	}
}

// DrainWorkers ends every idle worker, so that a test can count the
// goroutines a run left behind.
func DrainWorkers() {
	for w := getWorker(); w != nil; w = getWorker() {
		w.stop()
	}
}
