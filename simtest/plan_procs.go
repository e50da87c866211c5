package simtest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pgdst/pgdst/fault"
)

// planProcNames are the processes of a run that a fault plan can name by
// proc=NAME: those with one instance and a name without spaces (a fault
// plan's names have none). Backends ("backend 3") and autovacuum workers
// are named by role=, and the clients are client-0 .. client-(N-1).
var planProcNames = []string{"postmaster", "logger", "startup", "checkpointer", "bgwriter", "walwriter", "archiver"}

// checkPlanProcs rejects a plan that names a process no run of this
// config has, with the names it could use: its fault would never fire,
// and the run would pass as if it had been tested.
func checkPlanProcs(p fault.Plan, clients int) error {
	for _, name := range p.ProcNames() {
		if slices.Contains(planProcNames, name) {
			continue
		}
		if n, ok := strings.CutPrefix(name, "client-"); ok {
			if c, err := strconv.Atoi(n); err == nil && c >= 0 && c < clients && strconv.Itoa(c) == n {
				continue
			}
		}
		return fmt.Errorf("unknown process %q (proc= names one of: %s, client-0..client-%d; backends and autovacuum workers by role=)",
			name, strings.Join(planProcNames, ", "), clients-1)
	}
	return nil
}
