// Package wal owns the write-ahead log: the record format, insertion under
// the WAL insert lock, XLogFlush (write then fsync up to an LSN), and the
// reader that recovery uses to find the end of valid WAL.
//
// It must never touch data files, the buffer pool or the clog: it knows
// records and LSNs only. Resource managers (the heap, the clog, the
// checkpointer) give it opaque payloads and replay them themselves.
//
// Format, modelled on PostgreSQL's XLogRecord (src/include/access/xlogrecord.h):
//
//	off  0  tot_len u32   header + payload, before alignment
//	off  4  crc     u32   CRC32C of payload, then of header bytes [8, 28), then [0, 4)
//	off  8  prev    u64   LSN of the previous record (xl_prev)
//	off 16  xid     u64   transaction id, 0 when none
//	off 24  rmid    u8    resource manager
//	off 25  info    u8    record type within the resource manager
//	off 26  pad     u16   zero
//	off 28  payload
//
// Records start at 8-byte (MAXALIGN) boundaries; an LSN is the byte position
// of a record in the WAL stream, and 0 is never a valid LSN.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// LSN is a position in the WAL stream (XLogRecPtr).
type LSN uint64

// InvalidLSN is the zero LSN, which no record has.
const InvalidLSN LSN = 0

func (l LSN) String() string { return fmt.Sprintf("%X/%08X", uint64(l)>>32, uint32(l)) }

// HeaderSize is the fixed record header size.
const HeaderSize = 28

// RecordSizeMax bounds a record so that a corrupt length can never make the
// reader allocate or read without limit.
const RecordSizeMax = 1 << 20

// Align is the alignment of record starts (MAXALIGN).
const Align = 8

// AlignUp rounds n up to the record alignment.
func AlignUp(n uint64) uint64 { return (n + Align - 1) &^ (Align - 1) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one decoded WAL record.
type Record struct {
	LSN     LSN // where it starts (set by Insert and by the reader)
	Prev    LSN
	Xid     uint64
	Rmid    uint8
	Info    uint8
	Payload []byte
}

// EncodedSize is the aligned size the record occupies in the stream.
func (r *Record) EncodedSize() uint64 { return AlignUp(uint64(HeaderSize + len(r.Payload))) }

// AppendEncoded appends the record's bytes, padded to alignment, to dst.
func (r *Record) AppendEncoded(dst []byte) []byte {
	if len(r.Payload) > RecordSizeMax-HeaderSize {
		panic("wal: record payload over RecordSizeMax")
	}
	start := len(dst)
	total := HeaderSize + len(r.Payload)
	aligned := int(AlignUp(uint64(total)))
	dst = append(dst, make([]byte, aligned)...)
	b := dst[start : start+aligned]
	binary.LittleEndian.PutUint32(b[0:], uint32(total))
	binary.LittleEndian.PutUint64(b[8:], uint64(r.Prev))
	binary.LittleEndian.PutUint64(b[16:], r.Xid)
	b[24] = r.Rmid
	b[25] = r.Info
	copy(b[HeaderSize:], r.Payload)
	binary.LittleEndian.PutUint32(b[4:], recordCRC(b[:total]))
	return dst
}

// recordCRC computes the CRC as PostgreSQL's XLogRecordAssemble and
// ValidXLogRecord do: payload first, then the header without the CRC field.
func recordCRC(b []byte) uint32 {
	c := crc32.Update(0, castagnoli, b[HeaderSize:])
	c = crc32.Update(c, castagnoli, b[8:HeaderSize])
	return crc32.Update(c, castagnoli, b[0:4])
}

// Errors that end the reading of WAL. Recovery treats each as the end of
// valid WAL, as ReadRecord does; they are distinct so that traces say why.
var (
	ErrZeroRecord   = errors.New("wal: zero record length (end of WAL)")
	ErrBadLength    = errors.New("wal: invalid record length")
	ErrShortRecord  = errors.New("wal: record extends past the end of WAL")
	ErrBadCRC       = errors.New("wal: incorrect record CRC")
	ErrBadPrev      = errors.New("wal: record with incorrect prev-link")
	ErrNonZeroPad   = errors.New("wal: non-zero header padding")
	ErrBadAlignment = errors.New("wal: misaligned LSN")
	// ErrBeyondLimit ends a scan at its Limit (Reader.Limit): the WAL
	// after it is not known durable yet, so it is not the end of valid
	// WAL either.
	ErrBeyondLimit = errors.New("wal: the next record is beyond the durable WAL")
)

// Decode decodes the record at the start of b, which holds the stream from
// lsn on. It checks the length, the CRC and, when wantPrev is valid, the
// prev-link. It never panics on arbitrary input. The payload aliases b.
func Decode(b []byte, lsn LSN, wantPrev LSN) (Record, error) {
	if uint64(lsn)%Align != 0 {
		return Record{}, ErrBadAlignment
	}
	if len(b) < 4 {
		return Record{}, ErrShortRecord
	}
	total := binary.LittleEndian.Uint32(b[0:])
	if total == 0 {
		return Record{}, ErrZeroRecord
	}
	if total < HeaderSize || total > RecordSizeMax {
		return Record{}, fmt.Errorf("%w %d at %s", ErrBadLength, total, lsn)
	}
	if uint64(len(b)) < uint64(total) {
		return Record{}, ErrShortRecord
	}
	rb := b[:total]
	if binary.LittleEndian.Uint16(rb[26:]) != 0 {
		return Record{}, ErrNonZeroPad
	}
	if recordCRC(rb) != binary.LittleEndian.Uint32(rb[4:]) {
		return Record{}, fmt.Errorf("%w at %s", ErrBadCRC, lsn)
	}
	rec := Record{
		LSN:     lsn,
		Prev:    LSN(binary.LittleEndian.Uint64(rb[8:])),
		Xid:     binary.LittleEndian.Uint64(rb[16:]),
		Rmid:    rb[24],
		Info:    rb[25],
		Payload: rb[HeaderSize:],
	}
	if wantPrev != InvalidLSN && rec.Prev != wantPrev {
		return Record{}, fmt.Errorf("%w at %s: %s, want %s", ErrBadPrev, lsn, rec.Prev, wantPrev)
	}
	return rec, nil
}
