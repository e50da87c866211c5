package fault

// ProcNames lists the process names the plan's faults name, in its
// actions (kill proc=NAME, pause proc=NAME) and triggers (proc=NAME), in
// plan order, so that a caller that knows the processes of its runs can
// reject a name no process has: its fault could never fire.
func (p Plan) ProcNames() []string {
	var out []string
	var walk func(e *Expr, depth int)
	walk = func(e *Expr, depth int) {
		if e == nil || depth > maxExprDepth {
			return
		}
		if e.Op == ExprAtom {
			if e.Atom.Kind == AtomProc {
				out = append(out, e.Atom.Name)
			}
			return
		}
		for _, a := range e.Args {
			walk(a, depth+1)
		}
	}
	for _, f := range p.Faults {
		if f.Action.Proc != "" {
			out = append(out, f.Action.Proc)
		}
		walk(f.When, 1)
	}
	return out
}
