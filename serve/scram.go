package serve

// SCRAM-SHA-256 authentication (RFC 5802, RFC 7677) with a password file,
// following PostgreSQL 15's src/backend/libpq/auth-scram.c (the exchange,
// its messages and its errors) and src/common/scram-common.c
// (scram_build_secret, the StoredKey and ServerKey derivation).
//
// Fault model: the client is untrusted. Any SASL message may be
// truncated, malformed or hostile; each is parsed without panicking and
// answered with PostgreSQL's FATAL 08P01 (or 0A000 for an unsupported
// feature), closing only that connection. A wrong proof and an unknown
// user both fail with 28P01 after the full exchange, as PostgreSQL's mock
// authentication does, so the answer does not tell which roles exist.
// Channel binding is refused: pgdst serve has no SSL.

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

const (
	// scramMechanism is the only SASL mechanism offered (no -PLUS: no SSL).
	scramMechanism = "SCRAM-SHA-256"
	// scramDefaultIterations and scramSaltBytes are PostgreSQL's
	// SCRAM_DEFAULT_ITERATIONS and SCRAM_DEFAULT_SALT_LEN.
	scramDefaultIterations = 4096
	scramSaltBytes         = 16
	// scramRawNonceBytes is SCRAM_RAW_NONCE_LEN: the server nonce's
	// random bytes before base64.
	scramRawNonceBytes = 18
	// scramKeyBytes is SCRAM_KEY_LEN (SHA-256's output).
	scramKeyBytes = sha256.Size
	// scramMaxIterations bounds a stored secret's iteration count, so
	// that a password file cannot make each login spin for minutes.
	scramMaxIterations = 1 << 24
	// passwordFileMaxLines bounds the password file.
	passwordFileMaxLines = 100000
)

// scramSecret is a role's verifier as pg_authid.rolpassword stores it:
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
type scramSecret struct {
	iterations int
	salt       []byte
	storedKey  []byte
	serverKey  []byte
}

// Passwords is a loaded password file: each user's SCRAM secret.
type Passwords struct {
	secrets map[string]scramSecret
	// mockNonce salts the mock authentication of unknown users
	// (PostgreSQL's mock_auth_nonce in the control file).
	mockNonce []byte
}

// scramKeys derives StoredKey and ServerKey from a password
// (scram_build_secret: SaltedPassword = Hi(password, salt, i)).
func scramKeys(password string, salt []byte, iterations int) (storedKey, serverKey []byte) {
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, scramKeyBytes)
	if err != nil {
		// Only FIPS-140-only mode refuses; pgdst does not run in it.
		panic(fmt.Sprintf("pbkdf2: %v", err))
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return stored[:], hmacSHA256(salted, "Server Key")
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// buildScramSecret is scram_build_secret for a plain password with a
// fresh random salt. PostgreSQL first applies SASLprep (pg_saslprep),
// which leaves an ASCII password unchanged; pgdst does not, so only
// ASCII passwords are guaranteed to match what PostgreSQL would store.
func buildScramSecret(password string) scramSecret {
	salt := make([]byte, scramSaltBytes)
	_, _ = rand.Read(salt)
	stored, server := scramKeys(password, salt, scramDefaultIterations)
	return scramSecret{iterations: scramDefaultIterations, salt: salt, storedKey: stored, serverKey: server}
}

// parseScramSecret is parse_scram_secret: the rolpassword form.
func parseScramSecret(s string) (scramSecret, error) {
	rest, ok := strings.CutPrefix(s, scramMechanism+"$")
	if !ok {
		return scramSecret{}, fmt.Errorf("a SCRAM secret starts with %s$", scramMechanism)
	}
	iterSalt, keys, ok := strings.Cut(rest, "$")
	if !ok {
		return scramSecret{}, fmt.Errorf("a SCRAM secret is %s$<iterations>:<salt>$<StoredKey>:<ServerKey>", scramMechanism)
	}
	iterStr, saltStr, ok1 := strings.Cut(iterSalt, ":")
	storedStr, serverStr, ok2 := strings.Cut(keys, ":")
	if !ok1 || !ok2 {
		return scramSecret{}, fmt.Errorf("a SCRAM secret is %s$<iterations>:<salt>$<StoredKey>:<ServerKey>", scramMechanism)
	}
	iter, err := strconv.Atoi(iterStr)
	if err != nil || iter < 1 || iter > scramMaxIterations {
		return scramSecret{}, fmt.Errorf("bad SCRAM iteration count %q (want 1 to %d)", iterStr, scramMaxIterations)
	}
	salt, err := base64.StdEncoding.DecodeString(saltStr)
	if err != nil || len(salt) == 0 {
		return scramSecret{}, fmt.Errorf("bad SCRAM salt %q (want base64)", saltStr)
	}
	stored, err1 := base64.StdEncoding.DecodeString(storedStr)
	server, err2 := base64.StdEncoding.DecodeString(serverStr)
	if err1 != nil || err2 != nil || len(stored) != scramKeyBytes || len(server) != scramKeyBytes {
		return scramSecret{}, fmt.Errorf("bad SCRAM StoredKey or ServerKey (want base64 of %d bytes each)", scramKeyBytes)
	}
	return scramSecret{iterations: iter, salt: salt, storedKey: stored, serverKey: server}, nil
}

// String is the rolpassword form.
func (s scramSecret) String() string {
	enc := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("%s$%d:%s$%s:%s", scramMechanism, s.iterations, enc(s.salt), enc(s.storedKey), enc(s.serverKey))
}

// LoadPasswordFile reads a password file: one "user:password" or
// "user:SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" per line;
// blank lines and lines starting with # are skipped. The user name ends
// at the first colon; the password is the rest of the line.
func LoadPasswordFile(path string) (*Passwords, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--password-file: %v", err)
	}
	return parsePasswordFile(path, data)
}

func parsePasswordFile(path string, data []byte) (*Passwords, error) {
	p := &Passwords{secrets: map[string]scramSecret{}, mockNonce: make([]byte, 32)}
	_, _ = rand.Read(p.mockNonce)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if line > passwordFileMaxLines {
			return nil, fmt.Errorf("--password-file %s: more than %d lines", path, passwordFileMaxLines)
		}
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		user, pw, ok := strings.Cut(text, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("--password-file %s line %d: want user:password or user:%s$<iter>:<salt>$<StoredKey>:<ServerKey>", path, line, scramMechanism)
		case user == "":
			return nil, fmt.Errorf("--password-file %s line %d: empty user name", path, line)
		case pw == "":
			// PostgreSQL refuses an empty password too ("empty
			// password returned by client" / CREATE ROLE ... PASSWORD '').
			return nil, fmt.Errorf("--password-file %s line %d: empty password for user %q", path, line, user)
		}
		if _, dup := p.secrets[user]; dup {
			return nil, fmt.Errorf("--password-file %s line %d: user %q listed twice", path, line, user)
		}
		if strings.HasPrefix(pw, scramMechanism+"$") {
			s, err := parseScramSecret(pw)
			if err != nil {
				return nil, fmt.Errorf("--password-file %s line %d: user %q: %v", path, line, user, err)
			}
			p.secrets[user] = s
			continue
		}
		p.secrets[user] = buildScramSecret(pw)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--password-file %s line %d: %v", path, line+1, err)
	}
	if len(p.secrets) == 0 {
		return nil, fmt.Errorf("--password-file %s: no users (nobody could connect)", path)
	}
	return p, nil
}

// lookup is the user's secret, or for an unknown user a mock one
// (scram_mock_salt: the salt is a hash of the user name and the mock
// nonce, stable across attempts, so a client cannot tell an unknown user
// from a known one by its salt changing).
func (p *Passwords) lookup(user string) (scramSecret, bool) {
	if s, ok := p.secrets[user]; ok {
		return s, true
	}
	h := sha256.New()
	h.Write([]byte(user))
	h.Write(p.mockNonce)
	return scramSecret{iterations: scramDefaultIterations, salt: h.Sum(nil)[:scramSaltBytes]}, false
}

// scramError is an authentication failure's ErrorResponse fields.
type scramError struct {
	code, msg, detail string
}

func (e *scramError) Error() string { return e.msg }

func malformedSCRAM(format string, args ...any) *scramError {
	return &scramError{code: "08P01", msg: "malformed SCRAM message", detail: fmt.Sprintf(format, args...)}
}

// scramClientFirst is a parsed client-first-message.
type scramClientFirst struct {
	cbindFlag byte   // 'n' or 'y'
	bare      string // client-first-message-bare, for the AuthMessage
	nonce     string
}

// scramClientFinal is a parsed client-final-message.
type scramClientFinal struct {
	channelBinding string
	nonce          string
	proof          []byte
	withoutProof   string // client-final-message-without-proof
}

// readAttrValue is read_attr_value: "<attr>=<value>" up to the next
// comma, which it consumes.
func readAttrValue(s *string, attr byte) (string, *scramError) {
	in := *s
	if len(in) == 0 || in[0] != attr {
		return "", malformedSCRAM("Expected attribute %q but found %q.", string(attr), truncateForError(in))
	}
	if len(in) < 2 || in[1] != '=' {
		return "", malformedSCRAM("Expected character \"=\" for attribute %q.", string(attr))
	}
	in = in[2:]
	value, rest, found := strings.Cut(in, ",")
	if !found {
		rest = ""
	}
	*s = rest
	return value, nil
}

// readAnyAttr is read_any_attr: an attribute of any (lowercase ASCII)
// name; it returns the name and value.
func readAnyAttr(s *string) (byte, string, *scramError) {
	in := *s
	if len(in) == 0 || in[0] < 'a' || in[0] > 'z' {
		return 0, "", malformedSCRAM("Attribute expected, but found end of string or an invalid character.")
	}
	attr := in[0]
	if len(in) < 2 || in[1] != '=' {
		return 0, "", malformedSCRAM("Expected character \"=\" for attribute %q.", string(attr))
	}
	v, err := readAttrValue(s, attr)
	return attr, v, err
}

func truncateForError(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// isScramPrintable is is_scram_printable: printable ASCII except comma.
func isScramPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// parseClientFirst is read_client_first_message.
func parseClientFirst(data []byte) (scramClientFirst, *scramError) {
	in := string(data)
	var cf scramClientFirst
	if len(in) == 0 {
		return cf, malformedSCRAM("Unexpected end of input.")
	}
	switch in[0] {
	case 'n', 'y':
		// 'y': the client supports channel binding but thinks the
		// server does not; without SSL that is true, so it is accepted.
		cf.cbindFlag = in[0]
		if len(in) < 2 || in[1] != ',' {
			return cf, malformedSCRAM("Comma expected, but found %q.", truncateForError(in[1:]))
		}
		in = in[2:]
	case 'p':
		return cf, malformedSCRAM("The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.")
	default:
		return cf, malformedSCRAM("Unexpected channel-binding flag %q.", string(in[0]))
	}
	// The authzid: PostgreSQL does not support one.
	if len(in) > 0 && in[0] == 'a' {
		return cf, &scramError{code: "0A000", msg: "client uses authorization identity, but it is not supported"}
	}
	if len(in) == 0 || in[0] != ',' {
		return cf, malformedSCRAM("Unexpected attribute %q in client-first-message.", truncateForError(in))
	}
	in = in[1:]
	cf.bare = in
	if len(in) > 0 && in[0] == 'm' {
		return cf, &scramError{code: "0A000", msg: "client requires an unsupported SCRAM extension"}
	}
	// The user name in the message is ignored: the startup packet's
	// is the one authenticated (PostgreSQL's behaviour).
	if _, err := readAttrValue(&in, 'n'); err != nil {
		return cf, err
	}
	nonce, err := readAttrValue(&in, 'r')
	if err != nil {
		return cf, err
	}
	if nonce == "" || !isScramPrintable(nonce) {
		return cf, &scramError{code: "08P01", msg: "non-printable characters in SCRAM nonce"}
	}
	cf.nonce = nonce
	// Extensions after the nonce are ignored, as PostgreSQL does, but
	// they must be well-formed attributes. Each iteration consumes at
	// least two bytes, so the loop is bounded by the input's length.
	for range len(in) {
		if in == "" {
			break
		}
		if _, _, err := readAnyAttr(&in); err != nil {
			return cf, err
		}
	}
	if in != "" {
		return cf, malformedSCRAM("Garbage found at the end of client-first-message.")
	}
	return cf, nil
}

// parseClientFinal is read_client_final_message.
func parseClientFinal(data []byte) (scramClientFinal, *scramError) {
	full := string(data)
	in := full
	var cf scramClientFinal
	cb, err := readAttrValue(&in, 'c')
	if err != nil {
		return cf, err
	}
	cf.channelBinding = cb
	if cf.nonce, err = readAttrValue(&in, 'r'); err != nil {
		return cf, err
	}
	// Extensions until the proof; each iteration consumes at least two
	// bytes.
	for range len(full) + 1 {
		start := len(full) - len(in)
		attr, v, err := readAnyAttr(&in)
		if err != nil {
			return cf, err
		}
		if attr != 'p' {
			continue
		}
		if start == 0 {
			return cf, malformedSCRAM("Malformed proof in client-final-message.")
		}
		cf.withoutProof = full[:start-1] // without the comma before p=
		proof, derr := base64.StdEncoding.DecodeString(v)
		if derr != nil || len(proof) != scramKeyBytes {
			return cf, malformedSCRAM("Malformed proof in client-final-message.")
		}
		cf.proof = proof
		if in != "" || strings.HasSuffix(full, ",") {
			return cf, malformedSCRAM("Garbage found at the end of client-final-message.")
		}
		return cf, nil
	}
	return cf, malformedSCRAM("Malformed proof in client-final-message.")
}

// scramExchange is one connection's SCRAM state (scram_state).
type scramExchange struct {
	user        string
	secret      scramSecret
	known       bool // false: mock authentication, which always fails
	first       scramClientFirst
	serverFirst string
}

// start answers the client-first-message with the server-first-message
// (build_server_first_message).
func (x *scramExchange) start(clientFirst []byte) (string, *scramError) {
	cf, err := parseClientFirst(clientFirst)
	if err != nil {
		return "", err
	}
	x.first = cf
	raw := make([]byte, scramRawNonceBytes)
	_, _ = rand.Read(raw)
	x.serverFirst = fmt.Sprintf("r=%s%s,s=%s,i=%d", cf.nonce, base64.StdEncoding.EncodeToString(raw),
		base64.StdEncoding.EncodeToString(x.secret.salt), x.secret.iterations)
	return x.serverFirst, nil
}

// finish checks the client-final-message; ok false (with a nil error) is
// a wrong password or an unknown user. On success it returns the
// server-final-message (build_server_final_message).
func (x *scramExchange) finish(clientFinal []byte) (serverFinal string, ok bool, _ *scramError) {
	if x.serverFirst == "" {
		panic("scram: finish before start")
	}
	cf, err := parseClientFinal(clientFinal)
	if err != nil {
		return "", false, err
	}
	// Without channel binding, c= is the base64 of the gs2 header the
	// client sent: "biws" is "n,,", "eSws" is "y,,".
	if !(cf.channelBinding == "biws" && x.first.cbindFlag == 'n') && !(cf.channelBinding == "eSws" && x.first.cbindFlag == 'y') {
		return "", false, &scramError{code: "08P01", msg: "unexpected SCRAM channel-binding attribute in client-final-message"}
	}
	// verify_final_nonce: the client's nonce followed by the server's.
	serverNonce, _, _ := strings.Cut(strings.TrimPrefix(x.serverFirst, "r="), ",")
	if cf.nonce != serverNonce {
		return "", false, &scramError{code: "08P01", msg: "invalid SCRAM response", detail: "Nonce does not match."}
	}
	if !x.known {
		return "", false, nil
	}
	authMessage := x.first.bare + "," + x.serverFirst + "," + cf.withoutProof
	// verify_client_proof: ClientKey = ClientProof XOR ClientSignature,
	// and H(ClientKey) must be StoredKey.
	sig := hmacSHA256(x.secret.storedKey, authMessage)
	clientKey := make([]byte, scramKeyBytes)
	for i := range clientKey {
		clientKey[i] = cf.proof[i] ^ sig[i]
	}
	h := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(h[:], x.secret.storedKey) != 1 {
		return "", false, nil
	}
	return "v=" + base64.StdEncoding.EncodeToString(hmacSHA256(x.secret.serverKey, authMessage)), true, nil
}

// authenticate is CheckSASLAuth for SCRAM-SHA-256: AuthenticationSASL,
// the client-first and client-final messages, AuthenticationSASLFinal.
// It returns false once it has sent the FATAL that ends the connection
// (or the client went away).
func (b *backend) authenticate(user string) bool {
	b.nc.SetReadDeadline(b.s.e.Clock.Now() + startupTimeout)
	defer b.nc.SetReadDeadline(0)
	secret, known := b.s.passwords.lookup(user)
	x := &scramExchange{user: user, secret: secret, known: known}
	b.be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{scramMechanism}})
	if err := b.be.Flush(); err != nil {
		return false
	}
	if err := b.be.SetAuthType(pgproto3.AuthTypeSASL); err != nil {
		panic(err)
	}
	msg, ok := b.receiveAuth()
	if !ok {
		return false
	}
	init, isInit := msg.(*pgproto3.SASLInitialResponse)
	if !isInit {
		b.protocolError("expected SASL response, got message type %T", msg)
		return false
	}
	if init.AuthMechanism != scramMechanism {
		b.protocolError("client selected an invalid SASL authentication mechanism")
		return false
	}
	serverFirst, serr := x.start(init.Data)
	if serr != nil {
		b.authError(serr)
		return false
	}
	b.be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})
	if err := b.be.Flush(); err != nil {
		return false
	}
	if err := b.be.SetAuthType(pgproto3.AuthTypeSASLContinue); err != nil {
		panic(err)
	}
	msg, ok = b.receiveAuth()
	if !ok {
		return false
	}
	resp, isResp := msg.(*pgproto3.SASLResponse)
	if !isResp {
		b.protocolError("expected SASL response, got message type %T", msg)
		return false
	}
	serverFinal, passed, serr := x.finish(resp.Data)
	if serr != nil {
		b.authError(serr)
		return false
	}
	if !passed {
		// auth_failed: the same message for a wrong password and an
		// unknown user.
		msg := fmt.Sprintf("password authentication failed for user %q", user)
		b.s.e.Logf("FATAL: %s", msg)
		b.fatal("28P01", msg)
		return false
	}
	b.be.Send(&pgproto3.AuthenticationSASLFinal{Data: []byte(serverFinal)})
	return true
}

// receiveAuth reads one message of the SASL exchange; false after the
// client went away (quietly, as PostgreSQL's EOF during authentication)
// or after a malformed message (a FATAL 08P01).
func (b *backend) receiveAuth() (pgproto3.FrontendMessage, bool) {
	msg, err := b.be.Receive()
	if err != nil {
		if !b.r.failed {
			b.protocolError("invalid frontend message: %v", err)
		}
		return nil, false
	}
	if _, bye := msg.(*pgproto3.Terminate); bye {
		return nil, false
	}
	return msg, true
}

// authError sends a SASL parse or check failure as PostgreSQL's FATAL.
func (b *backend) authError(e *scramError) {
	b.s.e.Logf("FATAL: %s", e.msg)
	b.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: e.code, Message: e.msg, Detail: e.detail})
	_ = b.be.Flush()
}
