#!/bin/bash
# test/faults/04_wal_full.sh: pg_wal on a small tmpfs fills up under load.
# The cluster's pg_wal is on a tmpfs of its own (1 MB segments; a reserved
# replication slot keeps every segment); four senders deliver through
# presence-http; a file then takes all but a few megabytes of the tmpfs, so
# the server fails to write WAL (PANIC, restarts, maybe stops).  Meanwhile
# presence-http answers 503 with Retry-After, never 500; no reply body names a
# server file; once the file is removed (and the server started again if it
# stopped), deliveries are acknowledged again, every acknowledged delivery
# is in presence.events, check() is empty and pg_amcheck clean.  Needs root
# (mount).

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP mounting a tmpfs needs root"
	exit 0
fi
plan 13
WALFS=$WORK/walfs
mkdir -p "$WALFS"
mount -t tmpfs -o size=40m,mode=0700 presence-faults-wal "$WALFS" || bail "cannot mount a tmpfs"
EXTRA_CLEANUP='umount -l "$WALFS"'
chown postgres: "$WALFS"
PRESENCE_INITDB_OPTS="--waldir=$WALFS/pg_wal --wal-segsize=1" node w 4 "max_wal_size = 8MB" "min_wal_size = 2MB"
setup_db
sql "SELECT pg_create_physical_replication_slot('hold', true)" >/dev/null

start_shim --workers 4 --db-timeout 8
senders "the senders are acknowledged" --bodies "$WORK/bodies"

# Fill the tmpfs, less 3 MB.
t_full=$(now_ms)
fill "$WALFS" 3072
refused_since() { awk -F'\t' -v t="$1" '$6 !~ /^2/ && $8 >= t { n++ } END { exit !(n >= 20) }' "$LOG"; }
wait_until 90 refused_since "$t_full"
ok $? "with pg_wal full the deliveries are refused"
health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$BASE/healthz")
diag "/healthz while pg_wal is full: $health"
sleep 3
grep -c 'No space left on device' "$WORK/w/server.log" | sed 's/^/# server log lines with ENOSPC: /'

# Free the space; start the server if it gave up.
rm -f "$WALFS/filler"
up() { psql -X -At -d "$DB" -c "SELECT 1" >/dev/null 2>&1; }
if ! wait_until 15 up; then
	diag "the server stopped: starting it again"
	pgctl w -w start >/dev/null 2>&1
fi
wait_until 60 up
ok $? "the server takes queries again once space is freed"
sql "SELECT pg_drop_replication_slot('hold')" >/dev/null
t_freed=$(now_ms)
wait_until 60 acked_after "$LOG" "$t_freed"
ok $? "the load is acknowledged again"
sleep 2
load_stop
is "$LOAD_STATUS" 0 "the senders finished"

replies "$LOG"
check "deliveries were refused while pg_wal was full" [ "$(awk -F'\t' '$6 == 503' "$LOG" | wc -l)" -gt 0 ]
sort "$WORK/bodies" | uniq -c | sort -rn | head -5 | sed 's/^/# reply: /'
is "$(grep -Ec 'pg_wal|base/|global/|/tmp|xlogtemp|"[^"]*/[^"]*"' "$WORK/bodies")" 0 "no reply body names a server file"
is "$(missing w "$LOG")" 0 "every acknowledged delivery is in presence.events"
is "$(sql "SELECT count(*) FROM presence.check()")" 0 "presence.check() is empty"
is "$(amcheck w)" "" "pg_amcheck finds nothing"
like "$(cat "$WORK/w/server.log")" 'No space left on device' "(the server did run out of WAL space)"
