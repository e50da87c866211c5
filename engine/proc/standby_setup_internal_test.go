package proc

import (
	"time"

	"github.com/pgdst/pgdst/engine/db"
	"github.com/pgdst/pgdst/engine/env"
)

// The standby tests of this package each built the same standby by hand;
// these helpers keep that setup in one place so a change to how a standby
// starts (a new file, a new config field) is made once. They perform the
// same operations in the same order as the inlined code did, so every
// test's simulated schedule, and therefore its trace, is unchanged.

// unreachableStandbyConfig is the configuration of a standby with 64 KiB
// segments, no autovacuum, and a primary_conninfo naming a node that does
// not exist, with walreceiver intervals of milliseconds so that its
// connection attempts and retries happen within a short test. Callers add
// what their test needs.
func unreachableStandbyConfig() Config {
	cfg := DefaultConfig()
	cfg.DB.WAL.SegmentSize = 64 << 10
	cfg.DB.ArchiveRecovery = true
	cfg.Autovacuum = false
	cfg.PrimaryConninfo = env.Addr{Node: "nowhere", Port: DefaultPort}
	cfg.WalReceiver = WalReceiverConfig{RetryInterval: 10 * time.Millisecond, StatusInterval: 10 * time.Millisecond, Timeout: 40 * time.Millisecond, ConnectTimeout: 5 * time.Millisecond}
	return cfg
}

// startStandby runs initdb with cfg, creates standby.signal, and spawns the
// postmaster, which starts in standby mode. There is no backup label: the
// startup process redoes from the control file's checkpoint and is
// consistent at once. The caller sleeps for as long as its test needs the
// standby to settle. It must run inside a simulated process of e.
func startStandby(e *env.Env, cfg Config) (*Postmaster, *Listener, error) {
	if err := db.InitDB(e, cfg.DB); err != nil {
		return nil, nil, err
	}
	file, err := e.Disk.Open(db.StandbySignalPath, env.OpenCreate)
	if err != nil {
		return nil, nil, err
	}
	file.Close()
	l := NewListener(e)
	pm, err := NewPostmaster(e, cfg, l)
	if err != nil {
		return pm, l, err
	}
	e.SpawnAs(env.RolePostmaster, "postmaster", pm.Main)
	return pm, l, nil
}

// startPromotedStandby starts a standby as startStandby does, lets it run
// for 100 ms of simulated time, requests its promotion (pg_promote), and
// lets it run 300 ms more for the end of recovery to finish. On an error
// it returns what it has, as the inlined code left it.
func startPromotedStandby(e *env.Env, cfg Config) (*Postmaster, *Listener, error) {
	pm, l, err := startStandby(e, cfg)
	if err != nil {
		return nil, nil, err
	}
	e.Clock.Sleep(100 * time.Millisecond)
	if err := pm.Shared().RequestPromote(); err != nil {
		return pm, l, err
	}
	e.Clock.Sleep(300 * time.Millisecond)
	return pm, l, nil
}
