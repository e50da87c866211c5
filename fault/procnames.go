package fault

// ProcNames lists the process names the plan's faults name, in its
// actions (kill proc=NAME, pause proc=NAME) and triggers (proc=NAME), in
// plan order, so that a caller that knows the processes of its runs can
// reject a name no process has: its fault could never fire.
func (p Plan) ProcNames() []string {
	var out []string
	for _, f := range p.Faults {
		if f.Action.Proc != "" {
			out = append(out, f.Action.Proc)
		}
		out = appendAtomNames(out, f.When, AtomProc, 1)
	}
	return out
}

// appendAtomNames appends the names of e's atoms of kind, anywhere in the
// expression (under not and or as well), in order of appearance.
func appendAtomNames(out []string, e *Expr, kind AtomKind, depth int) []string {
	if e == nil || depth > maxExprDepth {
		return out
	}
	if e.Op == ExprAtom {
		if e.Atom.Kind == kind {
			out = append(out, e.Atom.Name)
		}
		return out
	}
	for _, a := range e.Args {
		out = appendAtomNames(out, a, kind, depth+1)
	}
	return out
}
