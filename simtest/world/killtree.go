package world

import (
	"sort"

	"github.com/pgdst/pgdst/engine/env"
)

// KillTree kills root and every live process that descends from it (its
// children, theirs, ...), in id order, as a machine's power going off
// ends every process of the server it runs: a failover's power-off of the
// primary kills its postmaster and every server process the postmaster
// started, while the other nodes' processes and the clients carry on. It
// must be called from a process outside the tree, inside a run. It
// returns how many processes it killed.
func (s *Sim) KillTree(root env.Proc) int {
	r, ok := root.(*proc)
	if !ok || r.s != s || !s.running {
		panic("simtest: KillTree needs a process of this Sim, inside a run")
	}
	var victims []*proc
	for _, p := range s.procs {
		// A parent chain is at most as long as the process list.
		q := p
		for i := 0; q != nil && i <= len(s.procs); i++ {
			if q == r {
				victims = append(victims, p)
				break
			}
			q = q.parent
		}
	}
	sort.Slice(victims, func(i, j int) bool { return victims[i].id < victims[j].id })
	for _, p := range victims {
		if p == s.cur {
			panic("simtest: KillTree called from inside the tree it kills")
		}
		s.Kill(p)
	}
	return len(victims)
}
