#!/usr/bin/env bash
# The real-PostgreSQL side of the SERIALIZABLE benchmark (issue 20): the
# transaction mix of engine/db's BenchmarkSerializableVsRepeatableRead,
# run by pgbench on PostgreSQL 15 at REPEATABLE READ and at SERIALIZABLE
# (default_transaction_isolation set by ALTER DATABASE). A table of ROWS
# integer rows; three in four transactions read two random rows and add 1
# to a third (rw.sql), one in four reads four rows READ ONLY (ro.sql).
# pgbench retries serialization failures (--max-tries), as the Go
# benchmark does. Prints, per level, "iso=... tps=... commits=...
# retries=... failed=... retries_per_commit=...", then the TPS ratio.
# Needs PostgreSQL 15's binaries in /usr/lib/postgresql/15/bin and a
# postgres user; run as root, as pg_failover_cycle.sh is.
set -euo pipefail
BIN=${BIN:-/usr/lib/postgresql/15/bin}
CLIENTS=${CLIENTS:-8}
JOBS=${JOBS:-2}
SECONDS_PER_LEVEL=${SECONDS_PER_LEVEL:-20}
ROWS=${ROWS:-100}
PORT=${PORT:-55451}
D=$(mktemp -d /tmp/pgssi.XXXX)
chown postgres "$D"
run() { su postgres -s /bin/bash -c "$*"; }
cleanup() {
	[ -f "$D/data/postmaster.pid" ] && run "$BIN/pg_ctl -D $D/data -m immediate stop >/dev/null 2>&1" || true
	rm -rf "$D"
}
trap cleanup EXIT

run "$BIN/initdb -D $D/data -A trust >/dev/null"
cat >>"$D/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$D'
port = $PORT
max_connections = $((CLIENTS + 10))
EOF
run "$BIN/pg_ctl -D $D/data -l $D/log -w start >/dev/null"
run "$BIN/psql -h $D -p $PORT -d postgres -Atqc \"create table t(key int primary key, val int not null); insert into t select g, 0 from generate_series(1, $ROWS) g\""
run "$BIN/psql -h $D -p $PORT -d postgres -Atqc 'vacuum analyze t'"

cat >"$D/rw.sql" <<EOF
\set k1 random(1, $ROWS)
\set k2 random(1, $ROWS)
\set k3 random(1, $ROWS)
BEGIN;
SELECT val FROM t WHERE key = :k1;
SELECT val FROM t WHERE key = :k2;
UPDATE t SET val = val + 1 WHERE key = :k3;
COMMIT;
EOF
cat >"$D/ro.sql" <<EOF
\set k1 random(1, $ROWS)
\set k2 random(1, $ROWS)
\set k3 random(1, $ROWS)
\set k4 random(1, $ROWS)
BEGIN TRANSACTION READ ONLY;
SELECT val FROM t WHERE key = :k1;
SELECT val FROM t WHERE key = :k2;
SELECT val FROM t WHERE key = :k3;
SELECT val FROM t WHERE key = :k4;
COMMIT;
EOF
chown postgres "$D"/*.sql

declare -A TPS
for iso in "repeatable read" serializable; do
	run "$BIN/psql -h $D -p $PORT -d postgres -Atqc \"alter database postgres set default_transaction_isolation = '$iso'\""
	out=$(run "$BIN/pgbench -h $D -p $PORT -n -c $CLIENTS -j $JOBS -T $SECONDS_PER_LEVEL --max-tries=100 --failures-detailed -f $D/rw.sql@3 -f $D/ro.sql@1 postgres" 2>&1 || true)
	commits=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out")
	retries=$(sed -n 's/^total number of retries: \([0-9]*\).*/\1/p' <<<"$out")
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out")
	if [ -z "$commits" ] || [ -z "$tps" ]; then
		echo "pg_ssi: pgbench at $iso said:" >&2
		echo "$out" >&2
		exit 1
	fi
	retries=${retries:-0}
	failed=${failed:-0}
	TPS[$iso]=$tps
	echo "iso=\"$iso\" tps=$tps commits=$commits retries=$retries failed=$failed retries_per_commit=$(awk "BEGIN{printf \"%.3f\", $retries/$commits}")"
done
echo "ser/rr tps ratio=$(awk "BEGIN{printf \"%.3f\", ${TPS[serializable]}/${TPS[repeatable read]}}")"
