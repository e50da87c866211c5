package fault

import "time"

// Event is what the simulator shows the plan at each decision point: a
// scheduler step, an injection point, a disk operation or a timer. The
// simulator fills the fields that its kind uses and leaves the others zero;
// triggers that look at a field an event kind does not have (op=, file=,
// path= on anything but EventDisk, point= on anything but EventPoint) are
// false rather than matching a zero value.
type Event struct {
	Kind EventKind
	// Time is the virtual time now.
	Time time.Duration
	// Step is the number of scheduler steps so far.
	Step uint64
	// Role is the role of the running process.
	Role Role
	// Proc is the name of the running process, e.g. "client-3", "bgwriter".
	Proc string
	// Point is the injection point's name (EventPoint).
	Point string
	// Hit says this is the Hit-th hit of Point in the run, counting from 1
	// (EventPoint). The simulator counts hits, not the plan, so that a hit
	// number means the same thing whatever faults the plan holds.
	Hit uint64
	// Op is the disk operation (EventDisk).
	Op OpKind
	// File is the class of the file operated on (EventDisk).
	File FileClass
	// Path is the path of the file operated on (EventDisk).
	Path string
}
