package proc

import (
	"bytes"
	"encoding/binary"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/engine/wal"
)

// BackendMain is a backend (PostgresMain): it serves one connection's
// statements through a session of the storage engine until the client
// closes it, then ends. Its session — the open transaction, its snapshot,
// its row values — is its own private memory; everything shared goes
// through db. A PANIC in it (a failed WAL write, say) ends it abnormally,
// and the postmaster crash-restarts.
func BackendMain(e *env.Env, d *db.DB, c *Conn) {
	s, err := d.Connect()
	if err != nil {
		// Refuse the connection the way PostgreSQL's backend does: the
		// client's first request gets the error, then the end.
		if _, ok := c.Recv(); ok {
			c.Reply(Response{Err: err})
		} else if c.Replication() {
			// A WAL sender does not count against max_connections
			// (PostgreSQL 12's reserved WAL sender slots, bounded by
			// max_wal_senders alone): a standby still connects when
			// ordinary backends fill the server, as they do when
			// commits wait for that very standby (sync rep).
			WalSenderMain(e, d, c)
			return
		}
		c.Terminate()
		return
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	for {
		req, ok := c.Recv()
		if !ok {
			if c.Replication() {
				// am_walsender: the startup message asked for
				// replication, and this backend serves a standby,
				// in a WAL sender slot rather than a backend's.
				closed = true
				s.Close()
				WalSenderMain(e, d, c)
			}
			return // the client went away: the session's transaction rolls back
		}
		resp := execute(d, s, req)
		warning, terminate := s.TakeSyncRepWarning()
		if terminate {
			// pg_terminate_backend ended a sync-rep wait: the commit
			// stands locally, and the backend ends without a word to
			// its client (SyncRepWaitForLSN's whereToSendOutput =
			// DestNone, then ProcessInterrupts' FATAL).
			s.TakeCommit()
			c.Terminate()
			return
		}
		resp.Warning = warning
		c.Reply(resp)
		if xid, lsn, ok := s.TakeCommit(); ok && resp.Err == nil && warning == "" {
			// The reply that says it committed is sent. One with a
			// sync-rep WARNING is not an acknowledgement a careful
			// client takes: the commit may not be replicated.
			e.CommitAcked(xid, uint64(lsn))
		}
	}
}

// execute runs one request on the session (exec_simple_query); VACUUM
// and CREATE TABLE act on the database itself, outside any transaction
// block, as in PostgreSQL.
func execute(d *db.DB, s *db.Session, r Request) Response {
	var resp Response
	if err := readOnlyCheck(s, r.Op); err != nil {
		resp.Err = err
		return resp
	}
	switch r.Op {
	case OpBegin:
		resp.Err = s.BeginMode(r.Iso, r.Mode)
	case OpGet:
		resp.Val, resp.Found, resp.Err = s.Get(r.Table, r.Key)
	case OpInsert:
		resp.Err = s.Insert(r.Table, r.Key, r.Val)
	case OpUpdate:
		resp.Done, resp.Err = s.Update(r.Table, r.Key, r.Val)
	case OpDelete:
		resp.Done, resp.Err = s.Delete(r.Table, r.Key)
	case OpUpsertAppend:
		resp.Done, resp.Err = s.UpsertAppend(r.Table, r.Key, r.Val)
	case OpAppend:
		resp.Done, resp.Err = s.Modify(r.Table, r.Key, func(old []byte) ([]byte, bool) {
			return append(append(make([]byte, 0, len(old)+len(r.Val)), old...), r.Val...), true
		})
	case OpCAS:
		resp.Done, resp.Err = s.Modify(r.Table, r.Key, func(old []byte) ([]byte, bool) {
			return r.Val, bytes.Equal(old, r.Expect)
		})
	case OpAdd:
		resp.Done, resp.Err = s.Modify(r.Table, r.Key, func(old []byte) ([]byte, bool) {
			if len(old) != 8 {
				return nil, false // not an integer: the statement updates nothing
			}
			v := make([]byte, 8)
			binary.LittleEndian.PutUint64(v, binary.LittleEndian.Uint64(old)+uint64(r.Delta))
			return v, true
		})
	case OpScan:
		resp.Err = s.Scan(r.Table, r.Lo, r.Hi, func(k uint64, v []byte) bool {
			resp.Rows = append(resp.Rows, Row{Key: k, Val: append([]byte(nil), v...)})
			return true
		})
	case OpInsertSelect:
		_, resp.Err = s.InsertSelect(r.Table, r.Lo, r.Hi, uint64(r.Delta), func(k uint64, v []byte) {
			resp.Rows = append(resp.Rows, Row{Key: k, Val: append([]byte(nil), v...)})
		})
	case OpUpdateRange:
		_, resp.Err = s.UpdateRange(r.Table, r.Lo, r.Hi, func(old []byte) ([]byte, bool) {
			if len(old) < 8 {
				return nil, false // not an integer: the row fails the qualification
			}
			v := append([]byte(nil), old...)
			binary.LittleEndian.PutUint64(v, binary.LittleEndian.Uint64(old)+uint64(r.Delta))
			return v, true
		}, func(k uint64, v []byte) {
			resp.Rows = append(resp.Rows, Row{Key: k, Val: v})
		})
	case OpSetLocalAsync:
		resp.Err = s.SetLocalSynchronousCommitOff()
	case OpCommit:
		resp.Err = s.Commit()
	case OpRollback:
		resp.Err = s.Rollback()
	case OpVacuum:
		_, resp.Err = d.Vacuum(r.Table)
	case OpCreateTable:
		resp.Err = d.CreateTable(r.Table)
	case OpBackupStart:
		var start wal.LSN
		if start, resp.Err = s.BackupStart(); resp.Err == nil {
			resp.Val = binary.LittleEndian.AppendUint64(nil, uint64(start))
		}
	case OpBackupStop:
		resp.Val, resp.Err = s.BackupStop()
	default:
		panic("proc: unknown request op")
	}
	return resp
}
