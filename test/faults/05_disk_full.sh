#!/bin/bash
# test/faults/05_disk_full.sh: the data directory on a small tmpfs fills up
# under load (pg_wal elsewhere).  The server refuses to extend a table
# (53100 "could not extend file \"base/...\": No space left on device") and
# stays up.  presence-http answers those deliveries 503 with Retry-After,
# never 500, and /healthz 503; no reply body names a server file (the
# message's quoted path is replaced by "...").  Once space is freed,
# deliveries are acknowledged again; nothing acknowledged is lost, check()
# is empty and pg_amcheck clean.  Needs root (mount).

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP mounting a tmpfs needs root"
	exit 0
fi
plan 13
DATAFS=$WORK/d/data
mkdir -p "$DATAFS" "$WORK/wal"
mount -t tmpfs -o size=80m,mode=0700 presence-faults-data "$DATAFS" || bail "cannot mount a tmpfs"
EXTRA_CLEANUP='umount -l "$DATAFS"'
chown postgres: "$WORK/d" "$DATAFS" "$WORK/wal"
PRESENCE_INITDB_OPTS="--waldir=$WORK/wal/pg_wal" node d 5
setup_db

start_shim --workers 4 --db-timeout 8
senders "the senders are acknowledged" --bodies "$WORK/bodies"

# Fill the tmpfs, less 512 kB.
t_full=$(now_ms)
fill "$DATAFS" 512
full() { awk -F'\t' -v t="$1" '$6 == 503 && $8 >= t { n++ } END { exit !(n >= 20) }' "$LOG"; }
wait_until 90 full "$t_full"
ok $? "with the data directory full the deliveries are answered 503"
get "$BASE/healthz"
is "$CODE" 503 "/healthz is 503 while the disk is full"
like "$(cat "$WORK/d/server.log")" 'could not extend file.*No space left on device' "(the server could not extend a table)"

rm -f "$DATAFS/filler"
t_freed=$(now_ms)
wait_until 60 acked_after "$LOG" "$t_freed"
ok $? "once space is freed the load is acknowledged again, without a restart"
sleep 2
load_stop
is "$LOAD_STATUS" 0 "the senders finished"

replies "$LOG"
sort "$WORK/bodies" | uniq -c | sort -rn | head -5 | sed 's/^/# reply: /'
like "$(cat "$WORK/bodies")" 'No space left on device' "the reply says why"
is "$(grep -Ec 'base/|global/|pg_wal|/tmp|"[^"]*/[^"]*"' "$WORK/bodies")" 0 "no reply body names a server file"
is "$(missing d "$LOG")" 0 "every acknowledged delivery is in presence.events"
is "$(sql "SELECT count(*) FROM presence.check()")" 0 "presence.check() is empty"
is "$(amcheck d)" "" "pg_amcheck finds nothing"
