package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Block references: the body of a data-changing record names the pages it
// changes (XLogRegisterBuffer) and carries, per page, an optional full-page
// image and page-specific data, followed by the record's main data
// (XLogRegisterData). Redo restores images generically and hands the rest
// to the resource manager (XLogReadBufferForRedo), so every resource
// manager gets torn-page protection from one place.
//
// Encoding of a body (all little-endian):
//
//	u8 nblocks
//	per block:  u8 id, u8 flags, u8 fork, u32 rel, u32 block,
//	            [flags&hasImage: u16 holeOffset, u16 holeLength, image bytes (BlockSize-holeLength)]
//	            [flags&hasData:  u16 len, data]
//	u32 mainLen, main data
//
// The image is stored without its "hole" (the free space between pd_lower
// and pd_upper of a standard page), as XLogRecordAssemble does.

// BlockSize is the page size full-page images are taken of.
const BlockSize = 8192

// BlocksMax bounds the block references of one record
// (XLR_MAX_BLOCK_ID + 1 is 33 in PostgreSQL).
const BlocksMax = 32

const (
	blkHasImage = 1 << 0
	blkHasData  = 1 << 1
	blkWillInit = 1 << 2 // BKPBLOCK_WILL_INIT: redo starts from a zeroed page
)

// BlockRef is one page a record changes.
type BlockRef struct {
	ID    uint8
	Rel   uint32
	Fork  uint8
	Block uint32
	// Image, when not nil, is the whole page (BlockSize bytes) as it is
	// after the change; HoleOffset and HoleLength say which zero bytes
	// need not be stored.
	Image      []byte
	HoleOffset uint16
	HoleLength uint16
	// WillInit says redo rebuilds the page from nothing (a new page).
	WillInit bool
	Data     []byte
}

// Body is what a data-changing record carries.
type Body struct {
	Blocks []BlockRef
	Main   []byte
}

// ErrBadBody is a record body that does not decode.
var ErrBadBody = errors.New("wal: invalid record body")

// EncodedSize is the size of the encoded body.
func (b *Body) EncodedSize() int {
	n := 1 + 4 + len(b.Main)
	for i := range b.Blocks {
		r := &b.Blocks[i]
		n += 11
		if r.Image != nil {
			n += 4 + BlockSize - int(r.HoleLength)
		}
		if r.Data != nil {
			n += 2 + len(r.Data)
		}
	}
	return n
}

// Encode appends the body's encoding to dst. Invalid references (an image
// of the wrong size, a hole outside the page or not all zero, too many
// blocks) are caller bugs and panic.
func (b *Body) Encode(dst []byte) []byte {
	if len(b.Blocks) > BlocksMax {
		panic("wal: too many block references")
	}
	dst = slices.Grow(dst, b.EncodedSize())
	dst = append(dst, uint8(len(b.Blocks)))
	for i := range b.Blocks {
		r := &b.Blocks[i]
		flags := uint8(0)
		if r.Image != nil {
			flags |= blkHasImage
		}
		if r.Data != nil {
			flags |= blkHasData
		}
		if r.WillInit {
			flags |= blkWillInit
		}
		dst = append(dst, r.ID, flags, r.Fork)
		dst = binary.LittleEndian.AppendUint32(dst, r.Rel)
		dst = binary.LittleEndian.AppendUint32(dst, r.Block)
		if r.Image != nil {
			if len(r.Image) != BlockSize || int(r.HoleOffset)+int(r.HoleLength) > BlockSize {
				panic("wal: bad full-page image")
			}
			hole := r.Image[r.HoleOffset : r.HoleOffset+r.HoleLength]
			for _, x := range hole {
				if x != 0 {
					panic("wal: full-page image hole is not zero")
				}
			}
			dst = binary.LittleEndian.AppendUint16(dst, r.HoleOffset)
			dst = binary.LittleEndian.AppendUint16(dst, r.HoleLength)
			dst = append(dst, r.Image[:r.HoleOffset]...)
			dst = append(dst, r.Image[r.HoleOffset+r.HoleLength:]...)
		}
		if r.Data != nil {
			if len(r.Data) > 0xffff {
				panic("wal: block data over 64 KiB")
			}
			dst = binary.LittleEndian.AppendUint16(dst, uint16(len(r.Data)))
			dst = append(dst, r.Data...)
		}
	}
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(b.Main)))
	return append(dst, b.Main...)
}

// DecodeBody decodes a body (DecodeXLogRecord). Images are restored to whole
// pages with their holes zeroed. It never panics on arbitrary input; Data,
// Main and nothing else alias b.
func DecodeBody(b []byte) (Body, error) {
	var body Body
	rd := reader{b: b}
	n := int(rd.u8())
	if n > BlocksMax {
		return body, fmt.Errorf("%w: %d block references", ErrBadBody, n)
	}
	for i := 0; i < n && rd.err == nil; i++ {
		var r BlockRef
		r.ID = rd.u8()
		flags := rd.u8()
		r.Fork = rd.u8()
		r.Rel = rd.u32()
		r.Block = rd.u32()
		if flags&^(blkHasImage|blkHasData|blkWillInit) != 0 {
			return body, fmt.Errorf("%w: unknown block flags %#x", ErrBadBody, flags)
		}
		r.WillInit = flags&blkWillInit != 0
		if flags&blkHasImage != 0 {
			r.HoleOffset = rd.u16()
			r.HoleLength = rd.u16()
			if int(r.HoleOffset)+int(r.HoleLength) > BlockSize {
				return body, fmt.Errorf("%w: image hole outside the page", ErrBadBody)
			}
			stored := rd.bytes(BlockSize - int(r.HoleLength))
			if rd.err == nil {
				r.Image = make([]byte, BlockSize)
				copy(r.Image, stored[:r.HoleOffset])
				copy(r.Image[r.HoleOffset+r.HoleLength:], stored[r.HoleOffset:])
			}
		}
		if flags&blkHasData != 0 {
			r.Data = rd.bytes(int(rd.u16()))
		}
		for _, prev := range body.Blocks {
			if prev.ID == r.ID {
				return body, fmt.Errorf("%w: duplicate block id %d", ErrBadBody, r.ID)
			}
		}
		body.Blocks = append(body.Blocks, r)
	}
	body.Main = rd.bytes(int(rd.u32()))
	if rd.err != nil {
		return Body{}, rd.err
	}
	if rd.off != len(b) {
		return Body{}, fmt.Errorf("%w: %d trailing bytes", ErrBadBody, len(b)-rd.off)
	}
	return body, nil
}

// Block returns the reference with the given id.
func (b *Body) Block(id uint8) (*BlockRef, bool) {
	for i := range b.Blocks {
		if b.Blocks[i].ID == id {
			return &b.Blocks[i], true
		}
	}
	return nil, false
}

// reader decodes little-endian fields, remembering the first error so
// that callers check once.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || r.off+n > len(r.b) {
		r.err = fmt.Errorf("%w: truncated", ErrBadBody)
		return false
	}
	return true
}

func (r *reader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) bytes(n int) []byte {
	if !r.need(n) {
		return nil
	}
	v := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return v
}
