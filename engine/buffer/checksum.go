package buffer

// DataChecksums reports whether the pool stamps a checksum on every page
// it writes (DataChecksumsEnabled(): Config.SetChecksum is set), the
// cluster's choice at initdb.
func (p *Pool) DataChecksums() bool { return p.cfg.SetChecksum != nil }

// SetChecksumCopy stamps the cluster's checksum on pg, a private copy of
// block blkno that a caller is about to write through the storage manager
// itself (redo replacing a page that fails verification): as FlushBuffer
// does with PageSetChecksumCopy, it does nothing without data checksums,
// so such a page keeps pd_checksum 0.
func (p *Pool) SetChecksumCopy(pg []byte, blkno uint32) {
	if p.cfg.SetChecksum != nil {
		p.cfg.SetChecksum(pg, blkno)
	}
}
