#!/usr/bin/env bash
# Many probes against one PostgreSQL server, at every isolation level,
# with and without immediate restarts: the README's false-alarm figures.
#
#   bench/probe_runs.sh PGDST DATADIR URL RUNS SECONDS OUTDIR
#
# PGDST is a built pgdst, DATADIR the server's data directory (for
# pg_ctl restart), URL its connection URL. Each probe writes OUTDIR/NAME.json
# and OUTDIR/NAME.txt; the last lines summarise. Run it as the server's
# owner, or as root with RUNAS=postgres. CLIENTS (default 8), FAULTS
# ("none restarts" by default) and EVERY (the mean time between restarts,
# default 2s) vary the runs.
set -uo pipefail
pgdst=$1 data=$2 url=$3 runs=$4 secs=$5 out=$6
bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
restart="$bin/pg_ctl restart -D $data -m immediate -w -l $data/../restart.log"
if [ -n "${RUNAS:-}" ]; then
	restart="runuser -u $RUNAS -- $restart"
fi
mkdir -p "$out"
for faults in ${FAULTS:-none restarts}; do
	for iso in read-committed repeatable-read serializable; do
		pass=0 fail=0
		for i in $(seq 1 "$runs"); do
			name="$iso-$faults-$i"
			args=(probe -q --target "$url" --isolation "$iso" --clients "${CLIENTS:-8}" --duration "${secs}s" --seed "$i" --json "$out/$name.json")
			if [ "$faults" = restarts ]; then
				args+=(--fault-cmd "$restart" --fault-every "${EVERY:-2s}")
			fi
			if "$pgdst" "${args[@]}" >"$out/$name.txt" 2>&1; then
				pass=$((pass + 1))
			else
				fail=$((fail + 1))
				echo "FAIL $name: $(grep -m1 '^FAIL\|pgdst' "$out/$name.txt")"
			fi
		done
		echo "$iso faults=$faults runs=$runs pass=$pass fail=$fail"
	done
done
