package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/simtest/world"
)

// Hint bits that dirty pages (issue 17): PostgreSQL with data checksums
// dirties a page for a hint and logs a full-page image for the first hint
// after a checkpoint (MarkBufferDirtyHint, XLogSaveBufferForHint). That is
// what exercises the hint's durability rule across a crash and
// BM_JUST_DIRTIED, and it costs the campaign: with checkpoints scaled down
// to milliseconds, nearly every run logs hint images. So the swarm draws
// it on half the seeds, from a stream of its own; the others keep pgdst's
// older deviation, where a hint rides along with the page's next logged
// change (correct too: hints are only a cache of the clog). --hint-bits
// pins it; without the swarm hints dirty pages, as in PostgreSQL.

// The values of Config.HintBits.
const (
	HintBitsDirty   = "dirty"    // MarkBufferDirtyHint, as PostgreSQL
	HintBitsNoDirty = "no-dirty" // a hint never dirties its page
)

// HintBitsModes are Config.HintBits' values, for the flag.
var HintBitsModes = []string{HintBitsDirty, HintBitsNoDirty}

func (c Config) validateHintBits() error {
	switch c.HintBits {
	case "", HintBitsDirty, HintBitsNoDirty:
		return nil
	}
	return fmt.Errorf("hint bits must be %s or %s, got %q", HintBitsDirty, HintBitsNoDirty, c.HintBits)
}

// hintBitsDirtyDraw is the seed's draw: dirty on half the seeds.
func hintBitsDirtyDraw(seed uint64) bool {
	return world.NewRand(seed^0x68696e7464697274).Intn(2) == 0 // "hintdirt"
}

// resolveHintBits says whether the run's hint bits dirty pages.
func resolveHintBits(c Config) bool {
	switch {
	case c.HintBits != "":
		return c.HintBits == HintBitsDirty
	case c.Swarm:
		return hintBitsDirtyDraw(c.Seed)
	}
	return true
}
