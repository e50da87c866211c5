package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/fault"
)

// A fault plan's promote action may name the standby to promote
// (`promote node=n3 when time>=90ms`), as a failover manager picks the
// standby it promotes (Patroni: the most advanced; an operator: any).
// Without node= the failover promotes standby 1 (n2), as it always did.
// The failover then redirects the clients to the promoted standby and
// re-points every other standby, standby 1 included, at it
// (timeline_follow.go); what the sync-rep checker promises about the
// promoted standby follows from the setting (syncRepPlan.guarantees:
// under FIRST 1 (standby1), a failover to standby 2 is judged by the
// async loss bound).

// planPromoteNode returns the node the plan's promote actions name (""
// for none); it is an error for two of them to name different nodes,
// since a run fails over once.
func planPromoteNode(text string) (string, error) {
	if text == "" {
		return "", nil
	}
	p, err := fault.Parse(text)
	if err != nil {
		return "", nil // Validate reports it
	}
	node, seen := "", false
	for _, f := range p.Faults {
		if f.Action.Kind != fault.ActPromote {
			continue
		}
		if seen && f.Action.Node != node {
			return "", fmt.Errorf("promote actions name different standbys (%q and %q): a run fails over once", node, f.Action.Node)
		}
		node, seen = f.Action.Node, true
	}
	return node, nil
}

// validatePromoteNode checks the node= of a plan's promote actions
// against the run's standbys n2 .. n(standbys+1).
func validatePromoteNode(text string, standbys int) error {
	node, err := planPromoteNode(text)
	if err != nil || node == "" {
		return err
	}
	for i := range standbys {
		if node == standbyNodeName(i) {
			return nil
		}
	}
	return fmt.Errorf("promote node=%s: no such standby (this run's are n2 to n%d)", node, standbys+1)
}

// standbyNodeName is the i-th standby's node name (0-based): n2, n3, ...
func standbyNodeName(i int) string { return fmt.Sprintf("n%d", i+2) }

// promoteTarget is the standby a failover promotes: the one named node,
// or standby 1.
func (s *standbySet) promoteTarget(node string) *standby {
	for _, sb := range s.nodes {
		if sb.node.Name == node {
			return sb
		}
	}
	if node != "" {
		panic(fmt.Sprintf("simtest: promote node=%s is not a standby of the run (Validate checks it)", node))
	}
	return s.nodes[0]
}

// others are the standbys a failover did not promote, in order.
func (f *failover) others() []*standby {
	var out []*standby
	for _, sb := range f.standbys.nodes {
		if sb != f.sb {
			out = append(out, sb)
		}
	}
	return out
}

func (r resolved) stringPromoteNode() string {
	if r.failover.node == "" {
		return ""
	}
	return " promote_node=" + r.failover.node
}
