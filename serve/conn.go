package serve

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/sqlexec"
)

// maxMessageBytes bounds a frontend message's body, as PostgreSQL's
// PQ_LARGE_MESSAGE_LIMIT bounds a query's: a length beyond it is a
// protocol violation, not an allocation.
const maxMessageBytes = 64 << 20

// startupTimeout bounds the startup packet (authentication_timeout).
const startupTimeout = time.Minute

// backend is one client connection's server side.
type backend struct {
	s    *Server
	nc   env.Conn
	r    *eofReader
	be   *pgproto3.Backend
	pid  uint32
	key  []byte
	x    *sqlexec.Session
	once sync.Once

	// The extended protocol's prepared statements and portals, by name.
	stmts   map[string]*prepared
	portals map[string]*portal
	// skipping: an error in the extended protocol; messages are
	// discarded until Sync.
	skipping bool
	// extImplicit: the data statements Executed since the last Sync run
	// in one implicit transaction, which Sync ends.
	extImplicit bool
}

type prepared struct {
	plan *sqlexec.Plan // nil: the empty statement
}

type portal struct {
	plan    *sqlexec.Plan
	params  []sqlexec.Value
	formats []int16 // per result column
}

// terminate cancels the backend's statement and closes its socket (fast
// shutdown's SIGTERM to each backend).
func (b *backend) terminate() {
	b.once.Do(func() {
		b.s.mu.Lock()
		x := b.x
		b.s.mu.Unlock()
		if x != nil {
			x.Cancel()
		}
		_ = b.nc.Close()
	})
}

// protocolError ends the connection after a malformed or unexpected
// message, with the FATAL PostgreSQL sends (08P01).
func (b *backend) protocolError(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.s.e.Logf("FATAL: %s", msg)
	b.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: sqlexec.CodeProtocolViolation, Message: msg})
	_ = b.be.Flush()
}

// fatal sends a FATAL error (the connection then ends).
func (b *backend) fatal(code, msg string) {
	b.be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: code, Message: msg})
	_ = b.be.Flush()
}

// eofReader remembers whether the socket itself ended or failed, to
// tell a client that went away from a malformed message.
type eofReader struct {
	r      io.Reader
	failed bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.failed = true
	}
	return n, err
}

// readStartup reads the startup packet, answering SSLRequest and
// GSSENCRequest with 'N' (no encryption) as PostgreSQL without SSL does.
// It returns the startup message, or a cancel request, or an error.
func readStartup(be *pgproto3.Backend, w io.Writer) (pgproto3.FrontendMessage, error) {
	for range 4 { // at most an SSLRequest and a GSSENCRequest first
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return nil, err
		}
		switch msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := w.Write([]byte{'N'}); err != nil {
				return nil, err
			}
			continue
		}
		return msg, nil
	}
	return nil, errors.New("too many encryption requests")
}

// startConn reads the startup packet of a new connection and either
// serves a cancel request or starts a backend process for it.
func (s *Server) startConn(nc env.Conn) {
	nc.SetReadDeadline(s.e.Clock.Now() + startupTimeout)
	r := &eofReader{r: nc}
	be := pgproto3.NewBackend(r, nc)
	be.SetMaxBodyLen(maxMessageBytes)
	msg, err := readStartup(be, nc)
	if err != nil {
		s.e.Logf("incomplete startup packet: %v", err)
		_ = nc.Close()
		return
	}
	nc.SetReadDeadline(0)
	switch m := msg.(type) {
	case *pgproto3.CancelRequest:
		s.cancel(m.ProcessID, m.SecretKey)
		_ = nc.Close()
		return
	case *pgproto3.StartupMessage:
		key := make([]byte, 4)
		_, _ = rand.Read(key)
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			b := &backend{s: s, nc: nc, be: be}
			b.fatal("57P03", "the database system is shutting down")
			_ = nc.Close()
			return
		}
		s.nextPID++
		b := &backend{s: s, nc: nc, r: r, be: be, pid: s.nextPID, key: key, stmts: map[string]*prepared{}, portals: map[string]*portal{}}
		s.backends[b.pid] = b
		s.mu.Unlock()
		done := make(chan struct{})
		finished := false
		s.e.SpawnAs(env.RoleBackend, fmt.Sprintf("backend %d", b.pid), func() {
			defer close(done)
			defer func() {
				s.mu.Lock()
				delete(s.backends, b.pid)
				s.mu.Unlock()
				b.terminate()
				if !finished {
					s.e.Logf("backend %d failed", b.pid)
				}
			}()
			b.main(m)
			finished = true
		})
		<-done
	default:
		_ = nc.Close()
	}
}

// cancel is a CancelRequest: the backend with that process id and secret
// key has its statement canceled. A wrong key is ignored silently, as
// PostgreSQL does.
func (s *Server) cancel(pid uint32, key []byte) {
	s.mu.Lock()
	b, ok := s.backends[pid]
	var x *sqlexec.Session
	if ok {
		x = b.x
	}
	s.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare(b.key, key) != 1 || x == nil {
		return
	}
	s.e.Logf("canceling the statement of backend %d", pid)
	x.Cancel()
}

// main is the backend: authentication (trust, or SCRAM-SHA-256 with a
// password file), the session's parameters, then the message loop
// (PostgresMain).
func (b *backend) main(m *pgproto3.StartupMessage) {
	if m.ProtocolVersion != pgproto3.ProtocolVersion30 {
		// NegotiateProtocolVersion: pgdst speaks 3.0.
		b.be.Send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0})
	}
	user := m.Parameters["user"]
	if user == "" {
		b.fatal("28000", "no PostgreSQL user name specified in startup packet")
		return
	}
	if v, ok := m.Parameters["replication"]; ok && v != "false" && v != "0" && v != "off" {
		b.fatal(sqlexec.CodeFeatureNotSupported, "replication connections are not supported by pgdst serve")
		return
	}
	ses, err := b.s.d.Connect()
	if err != nil {
		// InitProcess past max_connections.
		b.fatal("53300", "sorry, too many clients already")
		return
	}
	defer ses.Close()
	// Authentication after InitProcess, as in PostgreSQL (InitPostgres ->
	// PerformAuthentication): a client still authenticating holds a slot.
	if b.s.passwords != nil && !b.authenticate(user) {
		return
	}
	x := sqlexec.NewSession(b.s.d, ses, b.s.cat, int(b.pid), user, m.Parameters["application_name"])
	defer x.Close()
	b.s.mu.Lock()
	b.x = x
	b.s.mu.Unlock()
	b.be.Send(&pgproto3.AuthenticationOk{})
	for _, kv := range x.ReportedSettings() {
		b.be.Send(&pgproto3.ParameterStatus{Name: kv[0], Value: kv[1]})
	}
	b.be.Send(&pgproto3.BackendKeyData{ProcessID: b.pid, SecretKey: b.key})
	b.be.Send(&pgproto3.ReadyForQuery{TxStatus: x.Status()})
	if err := b.be.Flush(); err != nil {
		return
	}
	for {
		msg, err := b.be.Receive()
		if err != nil {
			// The socket's end or failure ends the session quietly;
			// anything else is a malformed message (pgproto3 reports
			// a truncated body as a bare io.EOF too).
			if !b.r.failed {
				b.protocolError("invalid frontend message: %v", err)
			}
			return
		}
		if !b.handle(msg) {
			return
		}
		if err := b.be.Flush(); err != nil {
			return
		}
	}
}

// handle serves one message; false ends the connection.
func (b *backend) handle(msg pgproto3.FrontendMessage) bool {
	if b.skipping {
		switch msg.(type) {
		case *pgproto3.Sync:
		case *pgproto3.Terminate:
			return false
		case *pgproto3.Parse, *pgproto3.Bind, *pgproto3.Describe, *pgproto3.Execute, *pgproto3.Close, *pgproto3.Flush:
			return true
		}
	}
	switch m := msg.(type) {
	case *pgproto3.Query:
		b.simpleQuery(m.String)
	case *pgproto3.Parse:
		b.parse(m)
	case *pgproto3.Bind:
		b.bind(m)
	case *pgproto3.Describe:
		b.describe(m)
	case *pgproto3.Execute:
		b.execute(m)
	case *pgproto3.Close:
		if m.ObjectType == 'S' {
			delete(b.stmts, m.Name)
		} else {
			delete(b.portals, m.Name)
		}
		b.be.Send(&pgproto3.CloseComplete{})
	case *pgproto3.Sync:
		b.endExtImplicit()
		b.skipping = false
		delete(b.portals, "")
		b.be.Send(&pgproto3.ReadyForQuery{TxStatus: b.x.Status()})
	case *pgproto3.Flush:
	case *pgproto3.Terminate:
		return false
	default:
		b.protocolError("unsupported frontend message type %T", msg)
		return false
	}
	return true
}

// sendError sends a statement's ErrorResponse (its notices first). Any
// error in a transaction block aborts the block.
func (b *backend) sendError(err error) {
	b.x.MarkFailed()
	b.sendNotices()
	e := sqlexec.AsError(err)
	sev := e.Severity
	if sev == "" {
		sev = "ERROR"
	}
	b.be.Send(&pgproto3.ErrorResponse{Severity: sev, SeverityUnlocalized: sev, Code: e.Code, Message: e.Message, Detail: e.Detail, Hint: e.Hint, Position: int32(e.Position)})
}

func (b *backend) sendNotices() {
	for _, n := range b.x.TakeNotices() {
		b.be.Send(&pgproto3.NoticeResponse{Severity: n.Severity, SeverityUnlocalized: n.Severity, Code: n.Code, Message: n.Message})
	}
	for name, v := range b.x.TakeReported() {
		b.be.Send(&pgproto3.ParameterStatus{Name: name, Value: v})
	}
}

func rowDescription(cols []sqlexec.ResultCol, formats []int16) *pgproto3.RowDescription {
	rd := &pgproto3.RowDescription{Fields: make([]pgproto3.FieldDescription, len(cols))}
	for i, c := range cols {
		f := int16(0)
		if formats != nil {
			f = formats[i]
		}
		rd.Fields[i] = pgproto3.FieldDescription{Name: []byte(c.Name), DataTypeOID: uint32(c.Type), DataTypeSize: c.Type.Size(), TypeModifier: -1, Format: f}
	}
	return rd
}

// sendRows sends a result's rows and its CommandComplete.
func (b *backend) sendRows(cols []sqlexec.ResultCol, formats []int16, res *sqlexec.Result) {
	for _, r := range res.Rows {
		dr := &pgproto3.DataRow{Values: make([][]byte, len(r))}
		for i, v := range r {
			f := int16(0)
			if formats != nil {
				f = formats[i]
			}
			dr.Values[i] = v.Format(cols[i].Type, f)
		}
		b.be.Send(dr)
	}
	b.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(res.Tag)})
}

// simpleQuery is exec_simple_query: every statement of the string in
// turn, stopping at the first error, then ReadyForQuery.
func (b *backend) simpleQuery(q string) {
	defer func() { b.be.Send(&pgproto3.ReadyForQuery{TxStatus: b.x.Status()}) }()
	stmts, err := sqlexec.Parse(q)
	if err != nil {
		b.sendError(err)
		return
	}
	if len(stmts) == 0 {
		b.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	// Several data statements in one message are one transaction, as in
	// PostgreSQL; a message that also holds DDL, transaction control or
	// utility statements runs each statement on its own (README).
	if len(stmts) > 1 && b.x.Status() == 'I' && sqlexec.AllDML(stmts) {
		if err := b.x.BeginImplicit(); err != nil {
			b.sendError(err)
			return
		}
		defer func() {
			if err := b.x.EndImplicit(); err != nil {
				b.sendError(err)
			}
		}()
	}
	for _, raw := range stmts {
		plan, err := b.x.Prepare(raw, nil)
		if err == nil && len(plan.Params) > 0 {
			err = &sqlexec.Error{Code: sqlexec.CodeUndefinedParameter, Message: "there is no parameter $1"}
		}
		if err != nil {
			b.sendError(err)
			return
		}
		res, err := b.x.Execute(plan, nil)
		if err != nil {
			b.sendError(err)
			return
		}
		b.sendNotices()
		if plan.Cols != nil {
			b.be.Send(rowDescription(plan.Cols, nil))
		}
		b.sendRows(plan.Cols, nil, res)
		// Flush per statement, as PostgreSQL's per-statement
		// CommandComplete reaches the client before the next one
		// runs (it may block).
		if err := b.be.Flush(); err != nil {
			return
		}
	}
}

func (b *backend) extError(err error) {
	b.sendError(err)
	b.skipping = true
}

func (b *backend) parse(m *pgproto3.Parse) {
	if _, ok := b.stmts[m.Name]; ok && m.Name != "" {
		b.extError(&sqlexec.Error{Code: "42P05", Message: fmt.Sprintf("prepared statement \"%s\" already exists", m.Name)})
		return
	}
	stmts, err := sqlexec.Parse(m.Query)
	if err != nil {
		b.extError(err)
		return
	}
	if len(stmts) > 1 {
		b.extError(&sqlexec.Error{Code: sqlexec.CodeSyntaxError, Message: "cannot insert multiple commands into a prepared statement"})
		return
	}
	ps := &prepared{}
	if len(stmts) == 1 {
		if ps.plan, err = b.x.Prepare(stmts[0], m.ParameterOIDs); err != nil {
			b.extError(err)
			return
		}
	}
	b.stmts[m.Name] = ps
	b.be.Send(&pgproto3.ParseComplete{})
}

// formatsFor spreads a Bind's format codes over n values: none is all
// text, one is all that one, else one each.
func formatsFor(codes []int16, n int) ([]int16, error) {
	out := make([]int16, n)
	switch {
	case len(codes) == 0:
	case len(codes) == 1:
		for i := range out {
			out[i] = codes[0]
		}
	case len(codes) == n:
		copy(out, codes)
	default:
		return nil, &sqlexec.Error{Code: sqlexec.CodeProtocolViolation, Message: fmt.Sprintf("bind message has %d format codes but %d values", len(codes), n)}
	}
	for _, f := range out {
		if f != 0 && f != 1 {
			return nil, &sqlexec.Error{Code: sqlexec.CodeProtocolViolation, Message: fmt.Sprintf("unsupported format code: %d", f)}
		}
	}
	return out, nil
}

func (b *backend) bind(m *pgproto3.Bind) {
	ps, ok := b.stmts[m.PreparedStatement]
	if !ok {
		b.extError(&sqlexec.Error{Code: "26000", Message: fmt.Sprintf("prepared statement \"%s\" does not exist", m.PreparedStatement)})
		return
	}
	if _, ok := b.portals[m.DestinationPortal]; ok && m.DestinationPortal != "" {
		b.extError(&sqlexec.Error{Code: "42P03", Message: fmt.Sprintf("portal \"%s\" already exists", m.DestinationPortal)})
		return
	}
	pt := &portal{plan: ps.plan}
	nParams := 0
	if ps.plan != nil {
		nParams = len(ps.plan.Params)
	}
	if len(m.Parameters) != nParams {
		b.extError(&sqlexec.Error{Code: sqlexec.CodeProtocolViolation, Message: fmt.Sprintf("bind message supplies %d parameters, but prepared statement \"%s\" requires %d", len(m.Parameters), m.PreparedStatement, nParams)})
		return
	}
	pf, err := formatsFor(m.ParameterFormatCodes, nParams)
	if err != nil {
		b.extError(err)
		return
	}
	for i, raw := range m.Parameters {
		v, err := sqlexec.ParseParam(raw, ps.plan.Params[i], pf[i])
		if err != nil {
			b.extError(err)
			return
		}
		pt.params = append(pt.params, v)
	}
	if ps.plan != nil && ps.plan.Cols != nil {
		if pt.formats, err = formatsFor(m.ResultFormatCodes, len(ps.plan.Cols)); err != nil {
			b.extError(err)
			return
		}
	}
	b.portals[m.DestinationPortal] = pt
	b.be.Send(&pgproto3.BindComplete{})
}

func (b *backend) describe(m *pgproto3.Describe) {
	if m.ObjectType == 'S' {
		ps, ok := b.stmts[m.Name]
		if !ok {
			b.extError(&sqlexec.Error{Code: "26000", Message: fmt.Sprintf("prepared statement \"%s\" does not exist", m.Name)})
			return
		}
		pd := &pgproto3.ParameterDescription{}
		if ps.plan != nil {
			for _, t := range ps.plan.Params {
				pd.ParameterOIDs = append(pd.ParameterOIDs, uint32(t))
			}
		}
		b.be.Send(pd)
		if ps.plan == nil || ps.plan.Cols == nil {
			b.be.Send(&pgproto3.NoData{})
			return
		}
		b.be.Send(rowDescription(ps.plan.Cols, nil))
		return
	}
	pt, ok := b.portals[m.Name]
	if !ok {
		b.extError(&sqlexec.Error{Code: "34000", Message: fmt.Sprintf("portal \"%s\" does not exist", m.Name)})
		return
	}
	if pt.plan == nil || pt.plan.Cols == nil {
		b.be.Send(&pgproto3.NoData{})
		return
	}
	b.be.Send(rowDescription(pt.plan.Cols, pt.formats))
}

// endExtImplicit ends the extended protocol's implicit transaction, if
// one is open: commit, or roll back after an error. It reports whether
// the commit succeeded.
func (b *backend) endExtImplicit() bool {
	if !b.extImplicit {
		return true
	}
	b.extImplicit = false
	if err := b.x.EndImplicit(); err != nil {
		b.extError(err)
		return false
	}
	return true
}

func (b *backend) execute(m *pgproto3.Execute) {
	pt, ok := b.portals[m.Portal]
	if !ok {
		b.extError(&sqlexec.Error{Code: "34000", Message: fmt.Sprintf("portal \"%s\" does not exist", m.Portal)})
		return
	}
	if pt.plan == nil {
		b.be.Send(&pgproto3.EmptyQueryResponse{})
		return
	}
	// The data statements up to Sync are one implicit transaction, as
	// PostgreSQL's extended protocol makes them (a pgx batch commits or
	// fails as a whole); any other statement first ends it.
	if pt.plan.IsDML() {
		if !b.extImplicit && b.x.Status() == 'I' {
			if err := b.x.BeginImplicit(); err != nil {
				b.extError(err)
				return
			}
			b.extImplicit = true
		}
	} else if !b.endExtImplicit() {
		return
	}
	res, err := b.x.Execute(pt.plan, pt.params)
	if err != nil {
		b.extError(err)
		return
	}
	b.sendNotices()
	b.sendRows(pt.plan.Cols, pt.formats, res)
}
