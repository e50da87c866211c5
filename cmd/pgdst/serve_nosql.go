//go:build nosql

package main

import (
	"errors"
	"io"
)

// cmdServe, in a pgdst built with -tags nosql, says that serve is not in
// this binary. The mutation runs build pgdst that way: a mutant is judged
// by the simulated campaign, and leaving out the SQL layer spares each
// build tree a compile of pg_query_go's C parser (about two minutes on
// two cores).
func cmdServe(args []string, stdout, stderr io.Writer) error {
	return errors.New("serve is not in this binary (built with -tags nosql, without the SQL layer): build pgdst without that tag")
}
