package world

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pgdst/pgdst/engine/env"
)

// PCT is the probabilistic concurrency testing scheduler of Burckhardt,
// Kothari, Musuvathi and Nagarakatte ("A randomized scheduler with
// probabilistic guarantees of finding bugs", ASPLOS 2010), in place of the
// random switches at yield points:
//
//   - every process gets a random priority when it is spawned (distinct,
//     from the scheduler's own stream), and the highest-priority runnable
//     process always runs: at every yield point, at every block, and when
//     a process wakes (a timer, an unlock, a signal), the running one is
//     preempted at its next yield point if the woken one ranks higher;
//   - d-1 priority change points are drawn uniformly over the k steps the
//     run is expected to take (SetPCTHorizon): when the running process
//     passes the i-th, its priority drops to i, below every process's
//     initial priority, so that the process that was winning yields to
//     the others from that exact step on. It is also descheduled for a
//     short slice of virtual time (pctSliceMin..pctSliceMax, drawn with
//     the point), a deviation from the paper explained at pctSliceMin.
//
// A bug of depth d (d ordering constraints between steps of n processes)
// is then found with probability at least 1/(n k^(d-1)) per run, whatever
// the program. Random switches give no such bound; they are better at a
// short window that recurs all through a run (each occurrence is a fresh
// chance for a switch, where PCT has d-1 change points), worse at one
// precise interleaving among many steps that their other switches break
// up (README, "The scheduler").
//
// The guarantee assumes every process ends, and here the bgwriter, the
// checkpointer and the WAL writer loop for ever: they sleep between rounds
// (a sleeping process is not runnable, so it cannot hog the top priority),
// but a process that spins through yield points waiting for a lower one
// would run until the next change point, possibly never. So a process that
// runs pctStarveSteps yield points in a row while another is runnable is
// demoted below every priority given so far (a starvation change point,
// counted apart: PCTStats). pctStarveSteps is far above the longest run
// without a block that a healthy run makes (a backend's bulk load, a
// checkpoint writing every buffer), so it fires only on a spin, and the run
// then goes on as under any fair scheduler.
type pctState struct {
	rng   *Rand
	depth int
	// changes are the d-1 change points, by step, ascending; next is the
	// first not yet passed.
	changes []PCTChange
	next    int
	// demoted is the priority the next starvation demotion gives: below
	// every priority given before it.
	demoted int64
	// last is the process that ran the previous yield point, run how many
	// yield points it has run in a row while another was runnable.
	last *proc
	run  uint64
	// stats
	passed, starved uint64
}

// PCTChange is one PCT change point: at step Step, the running process's
// priority becomes Prio (1 to d-1, in the order the points were drawn),
// and it is descheduled for Slice of virtual time.
type PCTChange struct {
	Step  uint64
	Prio  int64
	Slice time.Duration
}

// waitPreempted is the wait of a process descheduled at a change point.
var waitPreempted = plainWait("descheduled at a PCT change point")

// pctSliceMin and pctSliceMax bound the virtual time a change point
// deschedules its process for. In the paper a demoted thread stays off
// the CPU while any other can run, and on a real machine that spans the
// others' I/O and sleeps; in the simulator a runnable process runs as
// soon as every other waits for virtual time to pass, so a bare demotion
// would close the window it opened within the same instant (a commit
// between its WAL flush and its clog update would be off the CPU only
// while the others have work that takes no time). A slice of a
// kernel's preemption length keeps it off while others' fsyncs (1 ms)
// complete. The longest is short enough that a checkpoint waiting for a
// descheduled commit stays well within the checkpoint liveness bound.
const (
	pctSliceMin = 50 * time.Microsecond
	pctSliceMax = 2 * time.Millisecond
)

// pctPrioBase is the lowest initial priority: above every change point's
// (at most pctDepthMax-1), so that a change point demotes below all of
// them.
const pctPrioBase = int64(1) << 40

// pctDepthMax bounds d: the guarantee's k^(d-1) makes larger depths
// pointless for runs of thousands of steps.
const pctDepthMax = 8

// pctStarveSteps is how many yield points in a row a process may run while
// another is runnable before it is demoted (see PCT above).
const pctStarveSteps = 20000

// PCTStarvationNote is the trace note of a starvation demotion.
const PCTStarvationNote = "PCT: a process ran 20000 yield points in a row and is demoted below all"

// ParseScheduler reads a scheduler's name: "random" (depth 0) or "pct:D"
// with D in [1, pctDepthMax].
func ParseScheduler(s string) (depth int, err error) {
	if s == "random" {
		return 0, nil
	}
	d, ok := strings.CutPrefix(s, "pct:")
	if ok {
		n, err := strconv.Atoi(d)
		if err == nil && n >= 1 && n <= pctDepthMax {
			return n, nil
		}
	}
	return 0, fmt.Errorf("scheduler must be random or pct:D with D in [1, %d], got %q", pctDepthMax, s)
}

// SchedulerName is ParseScheduler's inverse.
func SchedulerName(depth int) string {
	if depth == 0 {
		return "random"
	}
	return "pct:" + strconv.Itoa(depth)
}

func newPCT(depth int, seed uint64) *pctState {
	if depth < 1 || depth > pctDepthMax {
		panic(fmt.Sprintf("simtest: PCT depth %d outside [1, %d]", depth, pctDepthMax))
	}
	return &pctState{rng: NewRand(seed), depth: depth, demoted: -1}
}

// prio draws a new process's initial priority: random, above every change
// point's. Two equal draws (one chance in 2^62 per pair) are ordered by id.
func (t *pctState) prio() int64 {
	return pctPrioBase + int64(t.rng.Uint64()>>2)
}

// SetPCTHorizon draws the PCT scheduler's d-1 change points uniformly over
// the k steps after step base (the workload's start and its expected
// length). It does nothing under the random scheduler. Points drawn before
// are replaced: a run sets its horizon once, when it knows k.
func (s *Sim) SetPCTHorizon(base, k uint64) {
	t := s.pct
	if t == nil {
		return
	}
	if k == 0 || k > 1<<40 {
		panic(fmt.Sprintf("simtest: PCT horizon of %d steps", k))
	}
	t.changes, t.next = t.changes[:0], 0
	for i := 1; i < t.depth; i++ {
		step := base + 1 + uint64(t.rng.Intn(int(k)))
		slice := pctSliceMin + time.Duration(t.rng.Intn(int(pctSliceMax-pctSliceMin)+1))
		t.changes = append(t.changes, PCTChange{Step: step, Prio: int64(i), Slice: slice})
	}
	// Sorted by step (insertion: d-1 <= 7), the draw order kept in Prio;
	// equal steps keep draw order, and the later one wins.
	for i := 1; i < len(t.changes); i++ {
		for j := i; j > 0 && t.changes[j].Step < t.changes[j-1].Step; j-- {
			t.changes[j], t.changes[j-1] = t.changes[j-1], t.changes[j]
		}
	}
	for t.next < len(t.changes) && t.changes[t.next].Step <= s.steps {
		t.next++ // already passed (a horizon set late)
	}
}

// PCTChangePoints lists the change points drawn (nil under the random
// scheduler).
func (s *Sim) PCTChangePoints() []PCTChange {
	if s.pct == nil {
		return nil
	}
	return append([]PCTChange(nil), s.pct.changes...)
}

// PCTStats says how many change points the run passed and how many
// starvation demotions it made (zeros under the random scheduler).
func (s *Sim) PCTStats() (passed, starved uint64) {
	if s.pct == nil {
		return 0, 0
	}
	return s.pct.passed, s.pct.starved
}

// pctYield is the PCT scheduler's decision at a yield point of the running
// process p: pass a change point, demote a starving process, then run the
// highest-priority runnable process.
func (s *Sim) pctYield(p *proc) {
	t := s.pct
	if p != t.last {
		t.last, t.run = p, 0
	}
	var slice time.Duration
	for t.next < len(t.changes) && t.changes[t.next].Step <= s.steps {
		p.prio = t.changes[t.next].Prio
		slice = t.changes[t.next].Slice
		t.next++
		t.passed++
	}
	if slice > 0 {
		// Descheduled for its slice: the others run, and virtual time
		// passes for their timers and I/O, before it is runnable again.
		s.block(waitPreempted, slice)
		t.last, t.run = p, 0
		return
	}
	if len(s.runnable) < 2 {
		return
	}
	t.run++ // a step another runnable process waits through
	if t.run >= pctStarveSteps {
		p.prio = t.demoted
		t.demoted--
		t.starved++
		s.event(p, &env.Event{Kind: env.EvNote, Name: PCTStarvationNote})
	}
	q := s.pctBest()
	if q != p {
		t.last, t.run = q, 0
		s.event(p, &env.Event{Kind: env.EvSwitch, A: int64(q.id)})
		s.cur = q
		s.suspend(p, q)
	}
}

// pctBest is the runnable process of highest priority (lowest id on a
// tie).
func (s *Sim) pctBest() *proc {
	best := s.runnable[0]
	for _, q := range s.runnable[1:] {
		if q.prio > best.prio || q.prio == best.prio && q.id < best.id {
			best = q
		}
	}
	return best
}
