package proc

// The streaming replication protocol (PostgreSQL's "Streaming Replication
// Protocol" chapter), framed as conn.go frames every message: a type
// byte, a 4-byte big-endian length, the payload. A standby connects with
// a startup message that asks for replication (replication=true), sends
// START_REPLICATION with the LSN and timeline to stream from, and the
// server answers CopyBothResponse; then both sides send CopyData: the
// sender XLogData ('w') and keepalives ('k'), the standby status updates
// ('r'). Payload integers are little-endian (this is not PostgreSQL's
// wire format, which the real server will speak through pgproto3).
//
// Unlike conn.go's decoder, which decodes only what its own encoder made,
// DecodeRepl is fuzzed: bad bytes give an error, never a panic.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/pgdst/pgdst/engine/wal"
)

// The replication messages' frame types.
const (
	msgCopyBoth = 'W' // server: CopyBothResponse, streaming begins
	msgCopyData = 'd' // both: CopyData, holding one ReplMsg
)

// ReplKind is a replication message's kind (the CopyData's first byte, or
// the command).
type ReplKind byte

const (
	// ReplStart is START_REPLICATION PHYSICAL Start TIMELINE Timeline.
	ReplStart ReplKind = 'S'
	// ReplXLogData is XLogData: Data is the WAL from Start; End is the
	// server's flushed WAL end (walEnd).
	ReplXLogData ReplKind = 'w'
	// ReplKeepalive is the primary keepalive message: End is walEnd;
	// ReplyRequested asks for a status update now.
	ReplKeepalive ReplKind = 'k'
	// ReplStatus is the standby status update: Write, Flush and Apply.
	ReplStatus ReplKind = 'r'
	// ReplIdentify is IDENTIFY_SYSTEM; ReplIdentified its answer: the
	// server's timeline (Timeline) and flushed WAL end (End).
	ReplIdentify   ReplKind = 'I'
	ReplIdentified ReplKind = 'i'
	// ReplHistoryReq is TIMELINE_HISTORY Timeline; ReplHistory its
	// answer: the history file of Timeline, its content in Data.
	ReplHistoryReq ReplKind = 'H'
	ReplHistory    ReplKind = 'h'
	// ReplEndOfTimeline ends a stream of a historic timeline at its
	// switch point (the CopyDone and the result set after it that
	// StartReplication sends): Timeline is the next timeline's ID, Start
	// where it begins.
	ReplEndOfTimeline ReplKind = 'e'
)

// replHistoryBytesMax bounds a history file's content in one message.
const replHistoryBytesMax = 64 << 10

// ReplMsg is one replication message. Which fields matter depends on
// Kind.
type ReplMsg struct {
	Kind           ReplKind
	Start, End     wal.LSN
	Timeline       uint32
	Write, Flush   wal.LSN
	Apply          wal.LSN
	SendTime       time.Duration // the sender's clock
	ReplyRequested bool
	Data           []byte // XLogData's WAL, aliasing the frame
}

// replicationStartup is the startup message's payload of a replication
// connection: the protocol version, then the replication=true flag.
var replicationStartup = []byte{0, 1, 0, 0, 'r'}

// replDataBytesMax bounds the WAL in one XLogData (MAX_SEND_SIZE, 16
// pages of 8 KiB in PostgreSQL).
const replDataBytesMax = 128 << 10

// AppendRepl appends m's frame to b.
func AppendRepl(b []byte, m ReplMsg) []byte {
	typ := byte(msgCopyData)
	if m.Kind == ReplStart || m.Kind == ReplIdentify || m.Kind == ReplHistoryReq {
		typ = msgQuery
	}
	start := len(b)
	b = appendHeader(b, typ)
	b = append(b, byte(m.Kind))
	switch m.Kind {
	case ReplStart:
		b = appendU64(b, uint64(m.Start))
		b = binary.LittleEndian.AppendUint32(b, m.Timeline)
	case ReplXLogData:
		if len(m.Data) > replDataBytesMax {
			panic(fmt.Sprintf("proc: XLogData of %d bytes", len(m.Data)))
		}
		b = appendU64(b, uint64(m.Start))
		b = appendU64(b, uint64(m.End))
		b = appendU64(b, uint64(m.SendTime))
		b = append(b, m.Data...)
	case ReplKeepalive:
		b = appendU64(b, uint64(m.End))
		b = appendU64(b, uint64(m.SendTime))
		b = appendBool(b, m.ReplyRequested)
	case ReplStatus:
		b = appendU64(b, uint64(m.Write))
		b = appendU64(b, uint64(m.Flush))
		b = appendU64(b, uint64(m.Apply))
		b = appendU64(b, uint64(m.SendTime))
		b = appendBool(b, m.ReplyRequested)
	case ReplIdentify:
	case ReplIdentified, ReplEndOfTimeline:
		b = binary.LittleEndian.AppendUint32(b, m.Timeline)
		b = appendU64(b, uint64(m.Start))
	case ReplHistoryReq:
		b = binary.LittleEndian.AppendUint32(b, m.Timeline)
	case ReplHistory:
		if len(m.Data) > replHistoryBytesMax {
			panic(fmt.Sprintf("proc: history file of %d bytes", len(m.Data)))
		}
		b = binary.LittleEndian.AppendUint32(b, m.Timeline)
		b = append(b, m.Data...)
	default:
		panic(fmt.Sprintf("proc: encoding replication message kind %q", m.Kind))
	}
	finishFrame(b[start:])
	return b
}

// ErrBadReplMsg is a replication message that does not decode.
var ErrBadReplMsg = errors.New("invalid replication message")

// DecodeRepl decodes a replication message from its frame type and
// payload. Data aliases body.
func DecodeRepl(typ byte, body []byte) (ReplMsg, error) {
	if len(body) < 1 {
		return ReplMsg{}, fmt.Errorf("%w: empty %q message", ErrBadReplMsg, typ)
	}
	m := ReplMsg{Kind: ReplKind(body[0])}
	p := body[1:]
	want := 0
	switch {
	case typ == msgQuery && m.Kind == ReplStart:
		want = 12
	case typ == msgCopyData && m.Kind == ReplXLogData:
		want = 24
	case typ == msgCopyData && m.Kind == ReplKeepalive:
		want = 17
	case typ == msgCopyData && m.Kind == ReplStatus:
		want = 33
	case typ == msgQuery && m.Kind == ReplIdentify:
		want = 0
	case typ == msgCopyData && (m.Kind == ReplIdentified || m.Kind == ReplEndOfTimeline):
		want = 12
	case typ == msgQuery && m.Kind == ReplHistoryReq:
		want = 4
	case typ == msgCopyData && m.Kind == ReplHistory:
		want = 4
	default:
		return ReplMsg{}, fmt.Errorf("%w: kind %q in a %q message", ErrBadReplMsg, body[0], typ)
	}
	variable := m.Kind == ReplXLogData || m.Kind == ReplHistory
	if len(p) < want || !variable && len(p) != want {
		return ReplMsg{}, fmt.Errorf("%w: %q message of %d bytes", ErrBadReplMsg, m.Kind, len(body))
	}
	u64 := func(i int) uint64 { return binary.LittleEndian.Uint64(p[8*i:]) }
	switch m.Kind {
	case ReplStart:
		m.Start, m.Timeline = wal.LSN(u64(0)), binary.LittleEndian.Uint32(p[8:])
	case ReplXLogData:
		m.Start, m.End, m.SendTime = wal.LSN(u64(0)), wal.LSN(u64(1)), time.Duration(u64(2))
		m.Data = p[24:]
		if len(m.Data) > replDataBytesMax {
			return ReplMsg{}, fmt.Errorf("%w: XLogData of %d bytes", ErrBadReplMsg, len(m.Data))
		}
		if m.Start+wal.LSN(len(m.Data)) < m.Start {
			return ReplMsg{}, fmt.Errorf("%w: XLogData at %s overflows", ErrBadReplMsg, m.Start)
		}
	case ReplKeepalive:
		m.End, m.SendTime = wal.LSN(u64(0)), time.Duration(u64(1))
		if p[16] > 1 {
			return ReplMsg{}, fmt.Errorf("%w: keepalive flag %d", ErrBadReplMsg, p[16])
		}
		m.ReplyRequested = p[16] == 1
	case ReplStatus:
		m.Write, m.Flush, m.Apply, m.SendTime = wal.LSN(u64(0)), wal.LSN(u64(1)), wal.LSN(u64(2)), time.Duration(u64(3))
		if p[32] > 1 {
			return ReplMsg{}, fmt.Errorf("%w: status flag %d", ErrBadReplMsg, p[32])
		}
		m.ReplyRequested = p[32] == 1
	case ReplIdentified, ReplEndOfTimeline:
		m.Timeline, m.Start = binary.LittleEndian.Uint32(p), wal.LSN(binary.LittleEndian.Uint64(p[4:]))
	case ReplHistoryReq:
		m.Timeline = binary.LittleEndian.Uint32(p)
	case ReplHistory:
		m.Timeline, m.Data = binary.LittleEndian.Uint32(p), p[4:]
		if len(m.Data) > replHistoryBytesMax {
			return ReplMsg{}, fmt.Errorf("%w: history file of %d bytes", ErrBadReplMsg, len(m.Data))
		}
	}
	if (m.Kind == ReplHistoryReq || m.Kind == ReplHistory || m.Kind == ReplEndOfTimeline) && m.Timeline == 0 {
		return ReplMsg{}, fmt.Errorf("%w: timeline 0 in a %q message", ErrBadReplMsg, m.Kind)
	}
	return m, nil
}
