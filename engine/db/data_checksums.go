package db

import "github.com/pgdst/pgdst/engine/env"

// Data checksums are a property of the cluster, chosen at initdb
// (--data-checksums) and recorded in the control file as
// data_checksum_version, which DataChecksumsEnabled() reads for the
// cluster's life. What depends on them (PostgreSQL 15):
//   - PageSetChecksumInplace / PageSetChecksumCopy stamp pd_checksum on
//     every page written, or leave it 0 (the pool's Config.SetChecksum);
//   - PageIsVerifiedExtended checks it on every page read, or checks only
//     the header (page.Verify, page.VerifyNoChecksum);
//   - XLogHintBitIsNeeded() is DataChecksumsEnabled() || wal_log_hints, so
//     MarkBufferDirtyHint logs a full-page image for a hint that is a
//     page's first change since the checkpoint only with checksums
//     (heapam's markDirtyHint; pgdst has no wal_log_hints).
// Without checksums and without full_page_writes a torn data page can be
// neither repaired nor detected, and PostgreSQL promises nothing for it.

// pgDataChecksumVersion is PG_DATA_CHECKSUM_VERSION.
const pgDataChecksumVersion = 1

// dataChecksumVersion is the control file's data_checksum_version for c.
func (c Config) dataChecksumVersion() uint32 {
	if c.DataChecksums {
		return pgDataChecksumVersion
	}
	return 0
}

// DataChecksumsEnabled is DataChecksumsEnabled(): the instance writes and
// verifies page checksums. Startup has checked that the control file
// agrees with the configuration (checkDataChecksumVersion).
func (db *DB) DataChecksumsEnabled() bool { return db.cfg.DataChecksums }

// checkDataChecksumVersion PANICs at startup if the control file's
// data_checksum_version is not the configured one: PostgreSQL takes the
// setting from the control file alone, so pgdst, whose configuration
// carries it, must be started as initdb made the cluster (as it must with
// the WAL segment size).
func checkDataChecksumVersion(e *env.Env, ctl controlData, cfg Config) {
	if ctl.dataChecksumVersion != cfg.dataChecksumVersion() {
		e.Panicf("data_checksum_version %d in the control file, %d configured (data checksums are fixed at initdb)",
			ctl.dataChecksumVersion, cfg.dataChecksumVersion())
	}
}
