package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/simtest/world"
)

// Data checksums as a cluster setting (issue 17): initdb's
// --data-checksums, recorded in the control file for the cluster's life
// (engine/db/data_checksums.go). PostgreSQL 15's initdb leaves them off
// unless asked, packagers and PostgreSQL 18 turn them on, so both are
// what users run, and each runs code the other does not: with them a
// hint bit that is a page's first change since a checkpoint logs a
// full-page image (XLogHintBitIsNeeded) and every read checks the page's
// checksum; without them hints are never WAL-logged, so a page hinted
// after a checkpoint reaches disk with no record after it, and reads check
// the header alone. The swarm draws them off on half of the seeds that
// keep full_page_writes on, from a stream of its own.
//
// Never with full_page_writes off: a page a power loss tears could then
// be neither repaired (no image) nor detected (no checksum), and
// PostgreSQL promises nothing at all for it. The checkers' rule for
// full_page_writes off, that such a page may only end the run as one that
// fails verification (settings.go), would have nothing to stand on, so
// the pinned combination is refused with a one-line error rather than run
// with no expectation; --data-checksums off alone keeps full_page_writes
// on.

// The values of Config.DataChecksums.
const (
	DataChecksumsOn  = "on"
	DataChecksumsOff = "off"
)

// DataChecksumsValues are the values --data-checksums takes.
var DataChecksumsValues = []string{DataChecksumsOn, DataChecksumsOff}

// dataChecksumsOffPer: the swarm turns data checksums off on one seed in
// dataChecksumsOffPer of those with full_page_writes on.
const dataChecksumsOffPer = 2

// dataChecksumsOffDraw is the seed's draw, from a stream of its own so
// that every other draw of the seed is what it was before this setting.
func dataChecksumsOffDraw(seed uint64) bool {
	return world.NewRand(seed^0x646174616373756d).Intn(dataChecksumsOffPer) == 0 // "datacsum"
}

func (c Config) validateDataChecksums() error {
	switch c.DataChecksums {
	case "", DataChecksumsOn:
		return nil
	case DataChecksumsOff:
		if c.FullPageWrites == FullPageWritesOff {
			return fmt.Errorf("data checksums off with full_page_writes off: a torn page could be neither repaired nor detected, and PostgreSQL promises nothing for it")
		}
		return nil
	}
	return fmt.Errorf("data checksums must be %s or %s, got %q", DataChecksumsOn, DataChecksumsOff, c.DataChecksums)
}

// resolveDataChecksums sets the run's data checksums, after
// resolveSettings has set full_page_writes: the flag, else the seed's
// draw under Swarm (off only where full_page_writes is on), else on. Off
// given by the flag turns a full_page_writes drawn off back on, so that
// the swarm never runs the combination Validate refuses.
func resolveDataChecksums(c Config, r *resolved) {
	on := true
	switch {
	case c.DataChecksums != "":
		on = c.DataChecksums == DataChecksumsOn
	case c.Swarm:
		on = !(dataChecksumsOffDraw(c.Seed) && r.engine.FullPageWrites)
	}
	if !on {
		r.engine.FullPageWrites = true
	}
	r.engine.DataChecksums = on
}

func (r resolved) stringDataChecksums() string {
	if r.engine.DataChecksums {
		return " data_checksums=on"
	}
	return " data_checksums=off"
}
