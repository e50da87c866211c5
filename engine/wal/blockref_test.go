package wal

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func genBody(t *rapid.T) Body {
	n := rapid.IntRange(0, 4).Draw(t, "nblocks")
	var b Body
	for i := 0; i < n; i++ {
		r := BlockRef{
			ID:       uint8(i),
			Rel:      rapid.Uint32().Draw(t, "rel"),
			Fork:     rapid.Uint8Range(0, 3).Draw(t, "fork"),
			Block:    rapid.Uint32().Draw(t, "block"),
			WillInit: rapid.Bool().Draw(t, "init"),
		}
		if rapid.Bool().Draw(t, "image") {
			r.Image = make([]byte, BlockSize)
			off := rapid.IntRange(0, BlockSize).Draw(t, "holeOff")
			length := rapid.IntRange(0, BlockSize-off).Draw(t, "holeLen")
			r.HoleOffset, r.HoleLength = uint16(off), uint16(length)
			fill := rapid.Byte().Draw(t, "fill")
			for j := range r.Image {
				if j < off || j >= off+length {
					r.Image[j] = fill ^ byte(j)
				}
			}
		}
		if rapid.Bool().Draw(t, "data") {
			r.Data = rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "bytes")
		}
		b.Blocks = append(b.Blocks, r)
	}
	b.Main = rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "main")
	return b
}

func TestBodyRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b := genBody(t)
		enc := b.Encode(nil)
		require.Len(t, enc, b.EncodedSize())
		got, err := DecodeBody(enc)
		require.NoError(t, err)
		require.Len(t, got.Blocks, len(b.Blocks))
		for i := range b.Blocks {
			w, g := b.Blocks[i], got.Blocks[i]
			require.Equal(t, w.ID, g.ID)
			require.Equal(t, w.Rel, g.Rel)
			require.Equal(t, w.Block, g.Block)
			require.Equal(t, w.Fork, g.Fork)
			require.Equal(t, w.WillInit, g.WillInit)
			require.Equal(t, w.Image, g.Image)
			require.Equal(t, string(w.Data), string(g.Data))
			require.Equal(t, w.Data == nil, g.Data == nil)
		}
		require.Equal(t, string(b.Main), string(got.Main))
		// Every strict prefix is rejected, never misread.
		cut := rapid.IntRange(0, len(enc)-1).Draw(t, "cut")
		_, err = DecodeBody(enc[:cut])
		require.Error(t, err)
	})
}

func TestHoleShrinksImage(t *testing.T) {
	img := make([]byte, BlockSize)
	img[0], img[BlockSize-1] = 1, 2
	b := Body{Blocks: []BlockRef{{ID: 0, Image: img, HoleOffset: 100, HoleLength: 8000}}}
	require.Less(t, len(b.Encode(nil)), 300)
}

func FuzzDecodeBody(f *testing.F) {
	b := Body{Blocks: []BlockRef{{ID: 1, Rel: 5, Block: 9, Data: []byte("x"), Image: make([]byte, BlockSize), HoleLength: BlockSize}}, Main: []byte("main")}
	f.Add(b.Encode(nil))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeBody(data)
		if err != nil {
			return
		}
		// What decodes re-encodes to a body that decodes the same.
		again, err := DecodeBody(got.Encode(nil))
		if err != nil || len(again.Blocks) != len(got.Blocks) || string(again.Main) != string(got.Main) {
			t.Fatalf("re-encoding changed the body: %v", err)
		}
	})
}
