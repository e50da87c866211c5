#!/usr/bin/env bash
# pgbench TPS against pgdst serve and against PostgreSQL 15 on this
# machine, in one session, with the same custom script and client count
# and fsync on for both (PostgreSQL's defaults: fsync = on,
# synchronous_commit = on). A benchmark, not a test.
#
# The script (the one serve/tools_test.go runs): a random account's
# balance updated by a random delta, read back, and a history row
# inserted, each statement its own transaction (pgbench -n, no BEGIN).
#
# usage: bench/pgbench_serve.sh [CLIENTS] [SECONDS]   (default 4 10)
# Prints one line per server: "<server> clients=C seconds=S tps=T".
# Needs PostgreSQL 15 (Debian: postgresql-15, postgresql-client-15) and,
# run as root, its postgres user; Go to build pgdst.
set -euo pipefail
CLIENTS=${1:-4}
SECS=${2:-10}
ACCOUNTS=${ACCOUNTS:-1000}
PORT_PGDST=${PORT_PGDST:-55461}
PORT_PG=${PORT_PG:-55462}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
D=$(mktemp -d /tmp/pgbench_serve.XXXX)
chmod 755 "$D"
[ "$(id -u)" = 0 ] && chown postgres "$D"
PGDST_PID=
cleanup() {
	[ -n "$PGDST_PID" ] && kill "$PGDST_PID" 2>/dev/null && wait "$PGDST_PID" 2>/dev/null || true
	[ -f "$D/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl -D $D/pg -m immediate stop >/dev/null 2>&1" || true
	rm -rf "$D"
}
trap cleanup EXIT
# as_pg runs a command as the postgres user when we are root (initdb
# refuses root), else as ourselves.
as_pg() {
	if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}

cat >"$D/script.sql" <<SQL
\set id random(1, $ACCOUNTS)
\set delta random(-5000, 5000)
\set hid random(1, 9000000000000000000)
UPDATE acct SET bal = bal + :delta WHERE id = :id;
SELECT bal FROM acct WHERE id = :id;
INSERT INTO hist (hid, aid, delta) VALUES (:hid, :id, :delta);
SQL
VALUES=$(seq 1 "$ACCOUNTS" | sed 's/.*/(&, 0)/' | paste -sd,)

# setup HOST PORT: the two tables and the accounts.
setup() {
	psql -X -q -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U bench -d bench \
		-c "CREATE TABLE acct (id int PRIMARY KEY, bal bigint NOT NULL)" \
		-c "CREATE TABLE hist (hid bigint PRIMARY KEY, aid int, delta int)" \
		-c "INSERT INTO acct VALUES $VALUES"
}
# bench NAME HOST PORT
bench() {
	setup "$2" "$3"
	local tps
	tps=$(pgbench -n -f "$D/script.sql" -c "$CLIENTS" -T "$SECS" -h "$2" -p "$3" -U bench bench 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
	echo "$1 clients=$CLIENTS seconds=$SECS tps=$tps"
}

# pgdst serve
(cd "$ROOT" && go build -o "$D/pgdst" ./cmd/pgdst)
mkdir "$D/pgdst-data"
"$D/pgdst" serve --data "$D/pgdst-data" --listen "127.0.0.1:$PORT_PGDST" -q >"$D/pgdst.out" &
PGDST_PID=$!
for _ in $(seq 1 600); do
	grep -q "listening on" "$D/pgdst.out" 2>/dev/null && break
	sleep 0.1
done
bench "pgdst-serve" 127.0.0.1 "$PORT_PGDST"
kill -TERM "$PGDST_PID"
wait "$PGDST_PID" || true
PGDST_PID=

# PostgreSQL 15: a temporary cluster on a private port.
as_pg "$PGBIN/initdb -D $D/pg -A trust -U bench --no-instructions >/dev/null"
as_pg "$PGBIN/pg_ctl -D $D/pg -o '-p $PORT_PG -k $D -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on' -l $D/pg.log -w start >/dev/null"
as_pg "psql -X -q -h 127.0.0.1 -p $PORT_PG -U bench -d postgres -c 'CREATE DATABASE bench'"
bench "postgresql-15" 127.0.0.1 "$PORT_PG"
