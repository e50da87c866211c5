#!/usr/bin/env bash
# The real-PostgreSQL side of the failover comparison (issue 19): how many
# failover cycles PostgreSQL 15 does per minute on this machine. A cycle:
# acknowledged autocommit INSERTs on the primary under synchronous
# replication (synchronous_standby_names = '*', synchronous_commit = on),
# kill -9 of the whole primary instance, pg_promote() of the standby,
# a check that every acknowledged row is on the promoted node, and the old
# primary rebuilt as the new standby with pg_basebackup (it must not rejoin
# as it is: its WAL may hold commits the new timeline never saw).
# Prints "cycles=N seconds=S cycles_per_min=R acked=A lost=L".
# Needs PostgreSQL 15's server binaries on PATH (Debian: postgresql) and a
# postgres user; run as root, as ../shared/bench/pg_crash_cycle.sh is.
set -euo pipefail
CYCLES=${CYCLES:-5}
TXNS=${TXNS:-50}
PORT_A=${PORT_A:-55441}
PORT_B=${PORT_B:-55442}
D=$(mktemp -d /tmp/pgfo.XXXX)
chown postgres "$D"
run() { su postgres -s /bin/bash -c "$*"; }
start() { run "pg_ctl -D $D/$1 -o '-p $2 -k $D' -l $D/$1.log -w start >/dev/null"; }
sql() { run "psql -h $D -p $1 -d postgres -Atqc \"$2\""; }
cleanup() {
	for n in a b; do
		[ -f "$D/$n/postmaster.pid" ] && run "pg_ctl -D $D/$n -m immediate stop >/dev/null 2>&1" || true
	done
	rm -rf "$D"
}
trap cleanup EXIT

# standby NAME PORT FROM_PORT: a base backup of the node on FROM_PORT,
# started as its synchronous standby; returns once the primary reports it
# streaming as a synchronous standby.
standby() {
	rm -rf "$D/$1"
	run "pg_basebackup -h $D -p $3 -D $D/$1 -R -X stream -c fast >/dev/null"
	start "$1" "$2"
	for _ in $(seq 1 500); do
		[ "$(sql "$3" "select count(*) from pg_stat_replication where sync_state = 'sync'")" = 1 ] && return 0
		sleep 0.02
	done
	echo "pg_failover_cycle: standby $1 never became synchronous" >&2
	exit 1
}

run "initdb -D $D/a -A trust >/dev/null"
cat >>"$D/a/postgresql.conf" <<EOF
synchronous_standby_names = '*'
synchronous_commit = on
wal_keep_size = 64MB
EOF
start a "$PORT_A"
# Local commit only: no standby exists yet to acknowledge it.
sql "$PORT_A" "set synchronous_commit = local; create table t(id int primary key)"
standby b "$PORT_B" "$PORT_A"

primary=a pport=$PORT_A other=b oport=$PORT_B
acked=0
begin=$(date +%s.%N)
for c in $(seq 1 "$CYCLES"); do
	base=$(((c - 1) * TXNS))
	run "for i in \$(seq $((base + 1)) $((base + TXNS))); do echo \"insert into t values(\$i);\"; done | psql -h $D -p $pport -d postgres -q >/dev/null"
	acked=$((base + TXNS))
	# The whole primary instance dies at once.
	pid=$(head -1 "$D/$primary/postmaster.pid")
	kids=$(pgrep -P "$pid" || true)
	kill -9 "$pid" $kids 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
	p=$(sql "$oport" "select pg_promote(true, 60)" 2>&1 || true)
	[ "$p" = t ] || { echo "pg_failover_cycle: cycle $c: pg_promote on port $oport said: $p" >&2; tail -5 "$D/$other.log" >&2; exit 1; }
	n=$(sql "$oport" "select count(*) from t")
	if [ "$n" != "$acked" ]; then
		echo "pg_failover_cycle: cycle $c: $acked acknowledged, $n on the promoted standby" >&2
		exit 1
	fi
	# The old primary is rebuilt from the new one and follows it.
	standby "$primary" "$pport" "$oport"
	t=$primary primary=$other other=$t
	t=$pport pport=$oport oport=$t
done
end=$(date +%s.%N)
secs=$(echo "$end - $begin" | bc -l)
lost=$((acked - $(sql "$pport" "select count(*) from t")))
echo "cycles=$CYCLES seconds=$(printf %.2f "$secs") cycles_per_min=$(echo "$CYCLES*60/$secs" | bc -l | xargs printf %.1f) acked=$acked lost=$lost"
