package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/pgdst/pgdst/fault"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/simtest"
)

// faultsHelp is the plan language in brief; package fault's actions.go
// holds the fault model (what the engine must survive, what it must only
// detect).
const faultsHelp = `A fault plan is text, one fault per line ('#' starts a comment):

    ACTION [ARG=VALUE ...] [when TRIGGER] [times=N]

times=N bounds how often the fault fires (default 1; 0 = unlimited).

Actions:
    crash [mode=drop-all|random-subset|torn] [rename=non-atomic]   power loss of the node
    kill [proc=NAME|role=ROLE]                   a process dies: crash-restart
    pause for=DURATION [proc=NAME|role=ROLE]     the process stops for a while
    fsync-eio                                    fsync fails; the dirty pages are dropped
    write-eio | read-eio | enospc                the operation fails, nothing stored
    torn-write                                   some 512-byte sectors stored, success reported
    lost-write                                   nothing stored, success reported
    misdirected-write [by=BYTES]                 lands BYTES away (default 8192)
    bitflip [bits=N]                             latent corruption of what a read covers
    latency for=DURATION                         a disk operation takes longer
    clock-skew max=DURATION                      timers fire early or late
    promote [node=NAME]                          failover: the primary loses power, standby NAME (n2, n3, n4;
                                                 default n2, standby 1) is promoted and the clients follow it
                                                 (needs --standbys and --failover; the swarm never draws it)

Triggers combine with and, or, not and parentheses:
    time>=D  time<D  step>=N  step<N   virtual time, scheduler steps
    point=NAME  point=NAME#K           an injection point, its K-th hit
    point=lwlock-acquire lock=LOCK     any LWLock acquisition; lock= names its tranche
    op=OP  file=CLASS  path=GLOB       the disk operation (disk faults)
    role=ROLE  proc=NAME               the running process
    nth=K                              true on the K-th evaluation reaching it
    prob=P                             true with probability P (from the seed)
    true

Example:
    crash mode=torn when role=checkpointer and point=smgr-after-fsync
    pause for=40ms role=backend when point=bufmgr-before-write
    fsync-eio when file=heap and nth=2
    pause for=5ms role=backend when point=lwlock-acquire and lock=ProcArrayLock and prob=0.1 times=4
    latency for=5ms when op=fsync and prob=0.1 times=0
`

func cmdFaults(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	fmt.Fprint(stdout, faultsHelp)
	fmt.Fprintf(stdout, "\nOps:         %s\n", names(fault.OpRead, fault.OpOther, func(k fault.OpKind) string { return k.String() }))
	fmt.Fprintf(stdout, "File classes: %s\n", names(fault.FileWAL, fault.FileOther, func(k fault.FileClass) string { return k.String() }))
	fmt.Fprintf(stdout, "Roles:       %s\n", names(fault.RoleBackend, fault.RoleWalreceiver, func(k fault.Role) string { return k.String() }))
	fmt.Fprintf(stdout, "Crash points (seeded plans and --systematic): %s\n", strings.Join(simtest.CrashPoints(), " "))
	fmt.Fprintf(stdout, "Locks (lock=, at point=lwlock-acquire): %s\n", strings.Join(simtest.LockTranches(), " "))
	return nil
}

// names lists the String of every value in [first, last].
func names[T ~uint8](first, last T, str func(T) string) string {
	var out []string
	for k := first; k <= last; k++ {
		out = append(out, str(k))
	}
	return strings.Join(out, " ")
}
