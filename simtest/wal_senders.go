package simtest

import (
	"fmt"

	"github.com/pgdst/pgdst/simtest/world"
)

// max_wal_senders at the number of standbys (the replication swarm's
// dimension for InitWalSenderSlot's refusal). PostgreSQL's default of 10
// leaves room for every standby of a run three times over, so a
// replication connection was never refused in a plain campaign. An
// operator who sizes max_wal_senders to the standbys he has (the
// documentation's advice is "a few more") meets the refusal whenever a
// standby reconnects before the primary has noticed its old connection
// is gone: the old WAL sender holds its slot until wal_sender_timeout or
// a failed send, and the new connection gets 53300, "number of requested
// standby connections exceeds max_wal_senders", and the WAL receiver
// retries after wal_retrieve_retry_interval. On one seed in
// walSendersTightPer of those with standbys the swarm sets it so.
// Config.MaxWalSenders pins it (10 pins PostgreSQL's default).
//
// Not drawn below the number of standbys: a standby that can never
// connect never catches up, and the standby checker asks every standby to.
//
// The draw has a stream of its own, so that a seed that does not draw it
// runs exactly as before, and the configuration line names
// max_wal_senders only when it is not the default.

// walSendersTightPer: one standby seed in walSendersTightPer draws
// max_wal_senders at the number of standbys.
const walSendersTightPer = 2

// MaxWalSendersMax bounds Config.MaxWalSenders (--max-wal-senders), as
// db.Config.Validate does.
const MaxWalSendersMax = 100

// walSendersDefault is PostgreSQL's max_wal_senders (db.DefaultConfig).
const walSendersDefault = 10

// walSendersTightDraw is whether the seed draws max_wal_senders at the
// number of standbys, from a stream of its own.
func walSendersTightDraw(seed uint64) bool {
	return world.NewRand(seed^0x77616c736e647273).Intn(walSendersTightPer) == 0 // "walsndrs"
}

func (c Config) validateMaxWalSenders() error {
	if c.MaxWalSenders < 0 || c.MaxWalSenders > MaxWalSendersMax {
		return fmt.Errorf("max_wal_senders must be in [1, %d], got %d", MaxWalSendersMax, c.MaxWalSenders)
	}
	if c.MaxWalSenders != 0 && c.MaxWalSenders < standbysOf(c) {
		return fmt.Errorf("max_wal_senders %d is below the %d standbys: one could never connect, and every standby must catch up", c.MaxWalSenders, standbysOf(c))
	}
	return nil
}

// resolveMaxWalSenders sets max_wal_senders, after resolveStandbys: the
// one given, else under Swarm on a run with standbys the seed's draw,
// else PostgreSQL's default.
func resolveMaxWalSenders(c Config, r *resolved) {
	switch {
	case c.MaxWalSenders != 0:
		r.engine.MaxWalSenders = c.MaxWalSenders
	case c.Swarm && r.standbys > 0 && walSendersTightDraw(c.Seed):
		r.engine.MaxWalSenders = r.standbys
	}
}

func (r resolved) stringMaxWalSenders() string {
	if r.engine.MaxWalSenders == walSendersDefault {
		return "" // the default: the line, and the trace, as before
	}
	return fmt.Sprintf(" max_wal_senders=%d", r.engine.MaxWalSenders)
}
