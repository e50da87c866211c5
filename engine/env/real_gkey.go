//go:build amd64 || arm64

package env

// getg returns the calling goroutine's g pointer (getg_*.s).
func getg() uintptr

// gkey identifies the calling goroutine for RealScheduler's registry of
// processes. It is the goroutine's g pointer, which does not move while
// the goroutine lives: reading it costs a load, where goid's
// runtime.Stack walks the whole stack, which made Self() most of a real
// server's CPU (every buffer pin and LWLock asks who is calling). A g is
// reused after its goroutine ends, which is harmless: run() removes its
// process from the registry before the goroutine ends.
func gkey() uint64 { return uint64(getg()) }
