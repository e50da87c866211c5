package proc

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/pgdst/pgdst/engine/wal"
)

// replFrame splits a frame AppendRepl built into its type and payload,
// checking the length field.
func replFrame(t *testing.T, b []byte) (byte, []byte) {
	t.Helper()
	if len(b) < headerBytes {
		t.Fatalf("frame of %d bytes", len(b))
	}
	if n := int(binary.BigEndian.Uint32(b[1:headerBytes])); n != len(b)-headerBytes {
		t.Fatalf("frame says %d payload bytes, has %d", n, len(b)-headerBytes)
	}
	return b[0], b[headerBytes:]
}

func TestReplMessagesRoundTrip(t *testing.T) {
	msgs := []ReplMsg{
		{Kind: ReplStart, Start: 0x1_0000_0040, Timeline: 1},
		{Kind: ReplXLogData, Start: 0x40, End: 0x2000, SendTime: 3 * time.Millisecond, Data: []byte("some wal bytes")},
		{Kind: ReplXLogData, Start: 0x40, End: 0x40, Data: []byte{}},
		{Kind: ReplKeepalive, End: 0x9999, SendTime: time.Second, ReplyRequested: true},
		{Kind: ReplKeepalive, End: 0x10},
		{Kind: ReplStatus, Write: 0x300, Flush: 0x200, Apply: 0x100, SendTime: 7, ReplyRequested: false},
		{Kind: ReplStatus, Write: 1 << 40, Flush: 1 << 40, Apply: 1 << 39, ReplyRequested: true},
		{Kind: ReplIdentify},
		{Kind: ReplIdentified, Timeline: 2, Start: 0x5000},
		{Kind: ReplHistoryReq, Timeline: 3},
		{Kind: ReplHistory, Timeline: 2, Data: []byte("1\t0/5000\tno recovery target specified\n")},
		{Kind: ReplEndOfTimeline, Timeline: 2, Start: 0x1_0000_0040},
	}
	for _, m := range msgs {
		b := AppendRepl([]byte("prefix"), m)
		if string(b[:6]) != "prefix" {
			t.Fatalf("%q: AppendRepl changed the bytes before it", m.Kind)
		}
		typ, body := replFrame(t, b[6:])
		got, err := DecodeRepl(typ, body)
		if err != nil {
			t.Fatalf("%q: %v", m.Kind, err)
		}
		if (got.Kind == ReplXLogData || got.Kind == ReplHistory) && len(got.Data) == 0 {
			got.Data = m.Data // empty and nil are the same payload
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip of %+v gave %+v", m, got)
		}
	}
}

func TestDecodeReplRejects(t *testing.T) {
	good := AppendRepl(nil, ReplMsg{Kind: ReplStatus, Write: 3, Flush: 2, Apply: 1})
	typ, body := replFrame(t, good)
	cases := map[string]struct {
		typ  byte
		body []byte
	}{
		"empty":             {msgCopyData, nil},
		"unknown kind":      {msgCopyData, []byte{'z', 0, 0}},
		"start as copydata": {msgCopyData, append([]byte{'S'}, make([]byte, 12)...)},
		"status as query":   {msgQuery, body},
		"short status":      {typ, body[:len(body)-1]},
		"long status":       {typ, append(append([]byte(nil), body...), 0)},
		"bad flag":          {typ, append(append([]byte(nil), body[:len(body)-1]...), 2)},
		"short xlogdata":    {msgCopyData, []byte{'w', 1, 2, 3}},
		"big xlogdata":      {msgCopyData, append([]byte{'w'}, make([]byte, 24+replDataBytesMax+1)...)},
		"identify as data":  {msgCopyData, []byte{'I'}},
		"long identify":     {msgQuery, []byte{'I', 0}},
		"history of tli 0":  {msgQuery, []byte{'H', 0, 0, 0, 0}},
		"short history":     {msgCopyData, []byte{'h', 2, 0, 0}},
		"big history":       {msgCopyData, append([]byte{'h', 2, 0, 0, 0}, make([]byte, replHistoryBytesMax+1)...)},
		"end of tli 0":      {msgCopyData, append([]byte{'e', 0, 0, 0, 0}, make([]byte, 8)...)},
		"short end of tli":  {msgCopyData, []byte{'e', 2, 0, 0, 0, 1}},
	}
	for name, c := range cases {
		if _, err := DecodeRepl(c.typ, c.body); !errors.Is(err, ErrBadReplMsg) {
			t.Errorf("%s: got %v, want ErrBadReplMsg", name, err)
		}
	}
	over := []byte{'w'}
	over = binary.LittleEndian.AppendUint64(over, ^uint64(0))
	over = append(over, make([]byte, 16)...)
	over = append(over, 1, 2)
	if _, err := DecodeRepl(msgCopyData, over); !errors.Is(err, ErrBadReplMsg) {
		t.Errorf("XLogData whose end overflows: got %v", err)
	}
}

// FuzzDecodeRepl: any bytes decode to a message or an error, never a
// panic, and a message decoded re-encodes to the same payload.
func FuzzDecodeRepl(f *testing.F) {
	for _, m := range []ReplMsg{
		{Kind: ReplStart, Start: wal.FirstLSN, Timeline: 1},
		{Kind: ReplXLogData, Start: 64, End: 128, Data: []byte{1, 2, 3}},
		{Kind: ReplKeepalive, End: 64, ReplyRequested: true},
		{Kind: ReplStatus, Write: 64, Flush: 64, Apply: 64},
		{Kind: ReplIdentify},
		{Kind: ReplIdentified, Timeline: 2, Start: 64},
		{Kind: ReplHistoryReq, Timeline: 2},
		{Kind: ReplHistory, Timeline: 2, Data: []byte("1\t0/40\n")},
		{Kind: ReplEndOfTimeline, Timeline: 2, Start: 64},
	} {
		b := AppendRepl(nil, m)
		f.Add(b[0], b[headerBytes:])
	}
	f.Fuzz(func(t *testing.T, typ byte, body []byte) {
		m, err := DecodeRepl(typ, body)
		if err != nil {
			return
		}
		b := AppendRepl(nil, m)
		if b[0] != typ || string(b[headerBytes:]) != string(body) {
			t.Fatalf("%q %x decoded to %+v, which encodes to %q %x", typ, body, m, b[0], b[headerBytes:])
		}
	})
}
