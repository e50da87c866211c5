package wal

import "github.com/pgdst/pgdst/engine/env"

// NewRestoringReader is NewReader for archive recovery: restore is called
// with each segment's number before the reader opens it, so that the
// startup process can fetch the segment from the archive into pg_wal first
// (XLogFileReadAnyTLI tries XLOG_FROM_ARCHIVE before XLOG_FROM_PG_WAL).
// When restore fetches nothing, the reader reads pg_wal's copy, if any.
func NewRestoringReader(e *env.Env, c Config, start, prev LSN, restore func(seg uint64)) (*Reader, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if restore == nil {
		panic("wal: NewRestoringReader without a restore function")
	}
	r := &Reader{e: e, cfg: c, next: start, prev: prev, restore: restore}
	if _, err := r.openSegment(c.segOf(start)); err != nil {
		return nil, err
	}
	return r, nil
}
