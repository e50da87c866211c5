package buffer_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/pgdst/pgdst/engine/buffer"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/smgr"
	"github.com/pgdst/pgdst/engine/wal"
	"github.com/pgdst/pgdst/simtest/world/simt"
)

// The process-side test helpers every engine package shares (simtest/world/simt).
var (
	ok     = simt.Must
	check  = simt.Check
	sim    = simt.Sim
	reboot = simt.Reboot
)

// The test page layout: pd_lsn (8 bytes), a CRC32C checksum of the rest of
// the page with the checksum field zeroed (4 bytes), then the block number
// and a version counter, then filler derived from both.
const (
	offChecksum = 8
	offBlock    = 12
	offVersion  = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(page []byte, blkno uint32) uint32 {
	c := crc32.Update(0, castagnoli, page[:offChecksum])
	c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
	c = crc32.Update(c, castagnoli, page[offChecksum+4:])
	return c ^ blkno // a page copied to the wrong block fails too
}

func setChecksum(page []byte, blkno uint32) {
	binary.LittleEndian.PutUint32(page[offChecksum:], checksum(page, blkno))
}

var errChecksum = errors.New("page verification failed: checksum mismatch")

func verify(page []byte, blkno uint32) error {
	allZero := true
	for _, b := range page {
		if b != 0 {
			allZero = false
			break
		}
	}
	if allZero {
		return nil
	}
	if binary.LittleEndian.Uint32(page[offChecksum:]) != checksum(page, blkno) {
		return errChecksum
	}
	return nil
}

// fillPage writes block and version into a page, keeping its LSN.
func fillPage(page []byte, blkno uint32, version uint64) {
	binary.LittleEndian.PutUint32(page[offBlock:], blkno)
	binary.LittleEndian.PutUint64(page[offVersion:], version)
	for i := offVersion + 8; i < len(page); i += 64 {
		page[i] = byte(version) ^ byte(blkno)
	}
}

// pageVersion reads the version back, checking the block number and
// filler; an all-zero page is version 0.
func pageVersion(page []byte, blkno uint32) (uint64, error) {
	v := binary.LittleEndian.Uint64(page[offVersion:])
	if v == 0 && binary.LittleEndian.Uint32(page[offBlock:]) == 0 {
		return 0, nil
	}
	if b := binary.LittleEndian.Uint32(page[offBlock:]); b != blkno {
		return 0, fmt.Errorf("page for block %d holds block %d", blkno, b)
	}
	for i := offVersion + 8; i < len(page); i += 64 {
		if page[i] != byte(v)^byte(blkno) {
			return 0, fmt.Errorf("block %d version %d: filler at %d is %d", blkno, v, i, page[i])
		}
	}
	return v, nil
}

// fakeWAL hands out LSNs and records how far it was flushed. With broken
// set, Flush does nothing, to prove the WAL-before-data check can fail.
type fakeWAL struct {
	inserted wal.LSN
	flushed  wal.LSN
	flushes  int
	broken   bool
}

// insert reserves a record and returns its end LSN, as XLogInsert does.
func (w *fakeWAL) insert() wal.LSN {
	w.inserted += 100
	return w.inserted
}

func (w *fakeWAL) Flush(upto wal.LSN) {
	if upto > w.inserted {
		panic(fmt.Sprintf("fake WAL: flush to %s beyond insert position %s", upto, w.inserted))
	}
	w.flushes++
	if !w.broken && upto > w.flushed {
		w.flushed = upto
	}
}

// recDisk wraps the simulated disk and checks, at every write of a page to
// a relation file, that the WAL was already flushed past the page's LSN.
type recDisk struct {
	env.Disk
	wal        *fakeWAL
	writes     int
	violations []string
}

func (d *recDisk) Open(path string, flag env.OpenFlag) (env.File, error) {
	f, err := d.Disk.Open(path, flag)
	if err != nil {
		return nil, err
	}
	return &recFile{File: f, d: d}, nil
}

type recFile struct {
	env.File
	d *recDisk
}

func (f *recFile) WriteAt(p []byte, off int64) (int, error) {
	if strings.HasPrefix(f.Path(), smgr.BaseDir+"/") && len(p) == smgr.BLCKSZ {
		f.d.writes++
		if lsn := buffer.PageGetLSN(p); lsn > f.d.wal.flushed {
			f.d.violations = append(f.d.violations,
				fmt.Sprintf("%s@%d written with pd_lsn %s but WAL flushed only to %s", f.Path(), off, lsn, f.d.wal.flushed))
		}
	}
	return f.File.WriteAt(p, off)
}

// fixture is a storage manager and pool over an environment.
type fixture struct {
	e    *env.Env
	sm   *smgr.SMgr
	pool *buffer.Pool
	wal  *fakeWAL
}

const rel = smgr.RelFileNumber(16384)

func newFixture(e *env.Env, nbuffers int, w *fakeWAL) *fixture {
	if w == nil {
		w = &fakeWAL{}
	}
	sm, err := smgr.New(e, smgr.Config{SegBlocks: 8})
	ok(err)
	pool, err := buffer.NewPool(e, buffer.Config{
		NBuffers: nbuffers, SMgr: sm, WAL: w, Verify: verify, SetChecksum: setChecksum,
	})
	ok(err)
	return &fixture{e: e, sm: sm, pool: pool, wal: w}
}

// modify rewrites a pinned block as a WAL-logged change would: exclusive
// lock, new contents, the record's LSN on the page, dirty, unlock.
func (f *fixture) modify(b buffer.Buffer, blkno smgr.BlockNumber, version uint64) {
	f.pool.LockBuffer(b, buffer.Exclusive)
	page := f.pool.BufferGetPage(b)
	fillPage(page, uint32(blkno), version)
	buffer.PageSetLSN(page, f.wal.insert())
	f.pool.MarkBufferDirty(b)
	f.pool.UnlockBuffer(b)
}

// readVersion reads a block's version under a share lock.
func (f *fixture) readVersion(blkno smgr.BlockNumber) (uint64, error) {
	b, err := f.pool.ReadBuffer(rel, smgr.MainForkNum, blkno)
	if err != nil {
		return 0, err
	}
	f.pool.LockBuffer(b, buffer.Share)
	v, err := pageVersion(f.pool.BufferGetPage(b), uint32(blkno))
	f.pool.UnlockReleaseBuffer(b)
	return v, err
}

// extend adds nblocks blocks, each written once (version 1).
func (f *fixture) extend(nblocks int) {
	for i := 0; i < nblocks; i++ {
		b, blkno, err := f.pool.ExtendBuffer(rel, smgr.MainForkNum)
		ok(err)
		check(blkno == smgr.BlockNumber(i), "extended block %d, want %d", blkno, i)
		f.modify(b, blkno, 1)
		f.pool.ReleaseBuffer(b)
	}
}
