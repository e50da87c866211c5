package serve

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// frame is a typed frontend message: type, length, body.
func frame(typ byte, body []byte) []byte {
	b := []byte{typ}
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)+4))
	return append(b, body...)
}

// startupPacket is a protocol 3.0 startup message for user u.
func startupPacket(u string) []byte {
	body := binary.BigEndian.AppendUint32(nil, pgproto3.ProtocolVersion30)
	body = append(body, "user\x00"+u+"\x00\x00"...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body)+4)), body...)
}

// decodeAll is the server's decoding path over arbitrary bytes: the
// startup packet (with its SSLRequest answers), then frontend messages
// until an error, as a backend reads them. It returns how many messages
// decoded; it must never panic or loop without consuming input.
func decodeAll(data []byte) int {
	be := pgproto3.NewBackend(&eofReader{r: bytes.NewReader(data)}, io.Discard)
	be.SetMaxBodyLen(maxMessageBytes)
	if _, err := readStartup(be, io.Discard); err != nil {
		return 0
	}
	n := 1
	// Each decoded message consumes at least its 5-byte header, so the
	// loop ends within len(data)/5 messages.
	for i := 0; i <= len(data)/5; i++ {
		msg, err := be.Receive()
		if err != nil {
			return n
		}
		if msg == nil {
			panic("a message without an error")
		}
		n++
	}
	panic("more messages than the input holds")
}

// FuzzFrontendDecode fuzzes the wire decoder; `go test` runs its seed
// corpus as a normal test.
func FuzzFrontendDecode(f *testing.F) {
	st := startupPacket("alice")
	seeds := [][]byte{
		st,
		append([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}, st...),     // SSLRequest, then startup
		{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 1, 2, 3, 4}, // CancelRequest
		append(append([]byte{}, st...), frame('Q', []byte("SELECT 1\x00"))...),
		append(append([]byte{}, st...), frame('P', []byte("s\x00SELECT $1\x00\x00\x01\x00\x00\x00\x17"))...),
		append(append([]byte{}, st...), frame('B', []byte("\x00s\x00\x00\x01\x00\x01\x00\x01\x00\x00\x00\x04\x00\x00\x00\x07\x00\x01\x00\x01"))...),
		append(append([]byte{}, st...), frame('D', []byte("S\x00"))...),
		append(append([]byte{}, st...), frame('E', []byte("\x00\x00\x00\x00\x00"))...),
		append(append([]byte{}, st...), frame('S', nil)...),
		append(append([]byte{}, st...), frame('C', []byte("Ss\x00"))...),
		append(append([]byte{}, st...), frame('X', nil)...),
		append(append([]byte{}, st...), 'B', 0, 0, 0, 6, 'x', 0),
		append(append([]byte{}, st...), 'Q', 0x7f, 0xff, 0xff, 0xff),
		append(append([]byte{}, st...), 'P', 0, 0, 0, 5, 0),
		{0xff, 0xff, 0xff, 0xff},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeAll(data)
	})
}

// TestDecodeSeeds pins what the seeds decode to, so that the fuzz
// target's seed run checks something.
func TestDecodeSeeds(t *testing.T) {
	st := startupPacket("alice")
	if n := decodeAll(append(append(append([]byte{}, st...), frame('Q', []byte("SELECT 1\x00"))...), frame('S', nil)...)); n != 3 {
		t.Fatalf("startup, Query, Sync decoded as %d messages", n)
	}
	if n := decodeAll(append(append([]byte{}, st...), 'P', 0, 0, 0, 5, 0)); n != 1 {
		t.Fatalf("a truncated Parse decoded as %d messages", n)
	}
}

// FuzzScramMessages: the SASL parsers and the exchange over arbitrary
// client-first and client-final messages never panic, and a message they
// accept has the shape they promise.
func FuzzScramMessages(f *testing.F) {
	f.Add([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), []byte("c=biws,r=rOprNGfwEbeRWgbNEkqO,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	f.Add([]byte("y,,n=,r=abc,x=ext"), []byte("c=eSws,r=abc,e=1,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	f.Add([]byte("p=tls-server-end-point,,n=,r=x"), []byte("c=biws,r=x,p=,"))
	f.Add([]byte("n,a=bob,n=,r=x"), []byte("p="))
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("n,,m=ext,n=,r=x"), []byte("c=biws,r=x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,"))
	secret := scramSecret{iterations: 1, salt: []byte("salt")}
	secret.storedKey, secret.serverKey = scramKeys("pw", secret.salt, 1)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		if cf, err := parseClientFirst(first); err == nil {
			if cf.nonce == "" || !isScramPrintable(cf.nonce) || (cf.cbindFlag != 'n' && cf.cbindFlag != 'y') {
				t.Fatalf("accepted %q with nonce %q flag %q", first, cf.nonce, cf.cbindFlag)
			}
		}
		if cf, err := parseClientFinal(final); err == nil && len(cf.proof) != scramKeyBytes {
			t.Fatalf("accepted %q with a %d-byte proof", final, len(cf.proof))
		}
		x := &scramExchange{user: "u", secret: secret, known: true}
		if _, err := x.start(first); err == nil {
			_, _, _ = x.finish(final)
		}
	})
}
