# test/faults/lib.bash: shared steps of the fault tests (test/faults/*.sh).
#
# Sourced, not run.  Each test makes clusters of its own (scripts/lib.sh's
# start_cluster: initdb as the cluster user, a private data directory and
# socket under the test's scratch directory), on the ports from
# PRESENCE_FAULTS_PORT on (default PGPORT + 20), and runs the real
# presence-http (test/http/lib.bash: TAP, signing, start_shim) and
# test/http/tools/loadgen.py against them.  Needs root (runuser, tmpfs) or
# the cluster user; PG_BIN as for scripts/test.

# shellcheck source=../http/lib.bash
. "$(dirname "$0")/../http/lib.bash"
# shellcheck source=../../scripts/lib.sh
. "$REPO_ROOT/scripts/lib.sh"

TOOLS=$REPO_ROOT/test/http/tools
FAULTS_PORT=${PRESENCE_FAULTS_PORT:-$((${PGPORT:-54390} + 20))}
chmod 711 "$WORK"
CLUSTERS=()
LOAD_PID=

# node <name> <port offset> [setting...]: start (made on first use) the
# cluster <name> in $WORK/<name> on FAULTS_PORT + offset, with the presence
# library preloaded; the libpq environment points at it afterwards.
node() {
	local name=$1 off=$2
	shift 2
	start_cluster "$WORK/$name" $((FAULTS_PORT + off)) "fsync = on" "$@" ||
		bail "cluster $name did not start"
	[[ " ${CLUSTERS[*]} " == *" $name "* ]] || CLUSTERS+=("$name")
}

# use <name>: point the libpq environment at cluster <name>
use() {
	export PGHOST=$WORK/$1
	PGPORT=$(sed -n 's/^port = //p' "$WORK/$1/data/postgresql.conf" | tail -1)
	export PGPORT PGUSER=postgres
}

port_of() { sed -n 's/^port = //p' "$WORK/$1/data/postgresql.conf" | tail -1; }

# standby <primary> <name> <port offset> [setting...]: a hot standby of
# <primary> made with pg_basebackup -R (streaming, application_name <name>)
standby() {
	local primary=$1 name=$2 off=$3 dir=$WORK/$2
	shift 3
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
	as_cluster_user "$PG_BIN/pg_basebackup" -h "$WORK/$primary" -p "$(port_of "$primary")" -U postgres \
		-D "$dir/data" -R -X stream -c fast -d "application_name=$name" >/dev/null 2>"$WORK/basebackup.err" ||
		{ cat "$WORK/basebackup.err" >&2; bail "pg_basebackup of $primary failed"; }
	as_cluster_user tee -a "$dir/data/postgresql.conf" >/dev/null <<CONF
port = $((FAULTS_PORT + off))
unix_socket_directories = '$dir'
CONF
	[ $# -eq 0 ] || printf '%s\n' "$@" | as_cluster_user tee -a "$dir/data/postgresql.conf" >/dev/null
	as_cluster_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null ||
		bail "standby $name did not start"
	CLUSTERS+=("$name")
}

pgctl() { as_cluster_user "$PG_BIN/pg_ctl" -D "$WORK/$1/data" -l "$WORK/$1/server.log" "${@:2}"; }

# crash <name>: kill -9 the postmaster of <name> and wait until every one
# of its children has gone (they notice the postmaster's death by
# themselves), so that it can start again on the same shared memory key.
crash() {
	local pid kids
	pid=$(head -1 "$WORK/$1/data/postmaster.pid")
	kids=$(pgrep -P "$pid" | tr '\n' ' ')
	kill -9 "$pid"
	gone() { local k; for k in $kids; do kill -0 "$k" 2>/dev/null && return 1; done; ! kill -0 "$pid" 2>/dev/null; }
	wait_until 60 gone || diag "children of $1's postmaster still alive: $kids"
}

# q <name> <sql>: one statement on cluster <name>, database $DB
q() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$WORK/$1" -p "$(port_of "$1")" -U postgres -d "${QDB:-$DB}" -c "$2"; }

# sqlstate <name> <sql>: the SQLSTATE the statement fails with ("ok" if none)
sqlstate() {
	local out
	out=$(psql -X -q -At -v VERBOSITY=verbose -h "$WORK/$1" -p "$(port_of "$1")" -U postgres -d "$DB" \
		-c "$2" 2>&1 >/dev/null) && { echo ok; return; }
	sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' <<<"$out" | head -1
}

# load_start <port> <log> [loadgen args...]: 4 concurrent senders of signed
# deliveries (each its own user, session and time) until load_stop
load_start() {
	local port=$1 log=$2
	shift 2
	rm -f "$WORK/stop"
	: >"$log"
	python3 "$TOOLS/loadgen.py" --port "$port" --secret "$SECRET" --clients 4 \
		--duration 120 --max 100000 --stop-file "$WORK/stop" --log "$log" \
		--prefix "f$$" --pause-503 0.1 "$@" 2>>"$WORK/load.err" &
	LOAD_PID=$!
}

# senders <description> [loadgen args...]: presence-http (started, on
# SHIM_PORT) gets the 4 senders, logging to LOG; ok once one is acknowledged
senders() {
	LOG=$WORK/load.log
	load_start "$SHIM_PORT" "$LOG" "${@:2}"
	wait_until 20 acked_after "$LOG" 0
	ok $? "$1"
}

# fill <dir> <kB>: a file in <dir> takes all of its file system's free space
# but <kB>
fill() {
	local free_kb
	free_kb=$(df -k --output=avail "$1" | tail -1)
	dd if=/dev/zero of="$1/filler" bs=1024 count=$((free_kb - $2)) status=none 2>/dev/null
}

# replies <log>: the tally of replies, and two tests: each reply is a 2xx or
# a 503 (no 500, no lost connection), each 503 with Retry-After
replies() {
	diag "deliveries: $(wc -l <"$1") sent, $(acked_count "$1") acknowledged, others: $(awk -F'\t' '$6 !~ /^2/ { print $6 }' "$1" | sort | uniq -c | tr -s ' \n' ' ')"
	is "$(awk -F'\t' '$6 !~ /^2/ && $6 != 503' "$1" | wc -l)" 0 "every reply is 2xx or 503 (no 500, no lost connection)"
	is "$(awk -F'\t' '$6 == 503 && $7 !~ /^[0-9]+$/' "$1" | wc -l)" 0 "every 503 carries Retry-After"
}

load_stop() {
	[ -n "$LOAD_PID" ] || return 0
	touch "$WORK/stop"
	wait "$LOAD_PID"
	LOAD_STATUS=$?
	LOAD_PID=
}

# acked_after <log> <ms>: a delivery sent at or after <ms> got a 2xx
acked_after() {
	awk -F'\t' -v t="$2" '$6 ~ /^2/ && $8 >= t { found = 1; exit } END { exit !found }' "$1"
}

# acked_count <log> [since ms]
acked_count() { awk -F'\t' -v t="${2:-0}" '$6 ~ /^2/ && $8 >= t' "$1" | wc -l; }

# missing <name> <log>: how many acknowledged deliveries of <log> are not in
# presence.events on cluster <name> (each delivery has a user of its own)
missing() {
	awk -F'\t' -v OFS='\t' '$6 ~ /^2/ { print $3, $4, $5 }' "$2" >"$WORK/acked.tsv"
	chmod 644 "$WORK/acked.tsv"
	psql -X -q -At -v ON_ERROR_STOP=1 -h "$WORK/$1" -p "$(port_of "$1")" -U postgres -d "$DB" <<EOF
CREATE TEMP TABLE acked (user_id text, session_id text, t bigint);
\copy acked FROM '$WORK/acked.tsv'
SELECT count(*) FROM acked a
 WHERE NOT EXISTS (SELECT 1 FROM presence.events e
                    WHERE e.user_id = a.user_id AND e.session_id = a.session_id AND e.status = '0'
                      AND (extract(epoch FROM e.status_time) * 1000)::bigint = a.t);
EOF
}

# replay_equal <name> <log>: feed a fresh database on cluster <name> each
# acknowledged delivery of <log> once (the body loadgen.py sent, through
# presence_ingest_unsigned), and compare users, sessions and events (less
# the columns that hold now()) with $DB's rows of the same users.  Prints
# the lines that differ; nothing when equal.
replay_equal() {
	local name=$1 log=$2 fresh="${DB}_fresh" prefix="f$$"
	awk -F'\t' -v OFS='\t' '$6 ~ /^2/ { print $2, $3, $4, $5 }' "$log" >"$WORK/replay.tsv"
	chmod 644 "$WORK/replay.tsv"
	QDB=postgres q "$name" "CREATE DATABASE $fresh" >/dev/null
	QDB=$fresh q "$name" "CREATE EXTENSION presence" >/dev/null
	psql -X -q -At -v ON_ERROR_STOP=1 -h "$WORK/$name" -p "$(port_of "$name")" -U postgres -d "$fresh" >/dev/null <<EOF
CREATE TEMP TABLE acked (seq bigint, user_id text, session_id text, t bigint);
\copy acked FROM '$WORK/replay.tsv'
SELECT count(public.presence_ingest_unsigned(pg_catalog.format(
  '{"type":"user:connection_status","id":"%s-ev-%s","time":%s,"data":[{"status":"0","userId":"%s","os":"Android","time":%s,"sessionId":"%s","clientIp":"10.0.0.1:%s"}]}',
  '$prefix', seq, t, user_id, t, session_id, 1024 + seq % 60000)))
  FROM acked;
EOF
	local d
	for d in "$DB" "$fresh"; do
		psql -X -q -At -v ON_ERROR_STOP=1 -h "$WORK/$name" -p "$(port_of "$name")" -U postgres -d "$d" <<'EOF' >"$WORK/rows.$d"
SELECT 'u', user_id, online_sessions, online, last_online_at, last_offline_at, last_seen_at, logged_out FROM presence.users;
SELECT 's', user_id, session_id, state, os, client_ip, started_at, ended_at, last_event_at FROM presence.sessions;
SELECT 'e', user_id, session_id, status_time, status, event_id, event_time, item_no, os, client_ip, outcome FROM presence.events;
EOF
	done
	# $DB's rows of the acknowledged users only: a delivery that committed
	# but whose reply was lost is there too, and rightly so.
	awk -F'|' 'NR == FNR { want[$2] = 1; next } want[$2]' "$WORK/rows.$fresh" "$WORK/rows.$DB" | sort >"$WORK/rows.a"
	sort "$WORK/rows.$fresh" >"$WORK/rows.b"
	[ -s "$WORK/rows.b" ] || echo "the fresh database has no rows"
	diff "$WORK/rows.a" "$WORK/rows.b" | head -20
	QDB=postgres q "$name" "DROP DATABASE $fresh" >/dev/null
}

# amcheck <name>: pg_amcheck of $DB on cluster <name> (heap and btree); prints
# what it finds
amcheck() {
	QDB=$DB q "$1" "CREATE EXTENSION IF NOT EXISTS amcheck" >/dev/null
	"$PG_BIN/pg_amcheck" -h "$WORK/$1" -p "$(port_of "$1")" -U postgres -d "$DB" --heapallindexed 2>&1
}

faults_cleanup() {
	local n
	load_stop 2>/dev/null
	stop_shim
	for n in "${CLUSTERS[@]}"; do
		[ -f "$WORK/$n/data/postmaster.pid" ] &&
			as_cluster_user "$PG_BIN/pg_ctl" -D "$WORK/$n/data" -m immediate -w stop >/dev/null 2>&1
	done
	[ -n "${EXTRA_CLEANUP:-}" ] && eval "$EXTRA_CLEANUP"
	DB=none
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "# kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap faults_cleanup EXIT
