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
	// Lock is the tranche of the lock about to be acquired, at the point
	// lwlock-acquire (EventPoint); "" at every other point.
	Lock string
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

// Applied is one fault the simulator carried out: which fault of the plan
// (its index, from 0), what it did, and the event it fired on. The
// simulator keeps these as typed records, so that whether a fault fired is
// read from them and never from trace or log text.
type Applied struct {
	// Fault is the fault's index in the plan, counting from 0.
	Fault  int
	Action ActionKind
	Event  EventKind
	// Time is the virtual time it fired at.
	Time time.Duration
	// Proc and Role are the process the event was raised by.
	Proc string
	Role Role
	// Point and Hit name the injection point hit (Event == EventPoint),
	// and Lock the lock's tranche at lwlock-acquire.
	Point string
	Hit   uint64
	Lock  string
	// File is the class of the file operated on (Event == EventDisk).
	File FileClass
}
