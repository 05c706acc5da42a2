# test/http/lib.bash: shared helpers for the presence-http TAP tests.
#
# Sourced by test/http/*.sh; its name keeps it out of
# "prove -e bash test/http/*.sh".  Needs a running PostgreSQL reachable
# through PGHOST, PGPORT and PGUSER (a superuser) with the presence extension
# installed, and PRESENCE_HTTP_BIN (default: src/http/presence-http).
# PRESENCE_PGCTL ("$PRESENCE_PGCTL stop|start") is needed by the outage test
# only.  KEEP_WORK=1 keeps the scratch directory (shim logs) for debugging.

# Variables set here are read by the test scripts that source this file.
# shellcheck disable=SC2034,SC2120
set -u

TEST_NAME=$(basename "$0" .sh)
REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PRESENCE_HTTP_BIN=${PRESENCE_HTTP_BIN:-$REPO_ROOT/src/http/presence-http}
SECRET='t0p-s3cret-for-tests'
WORK=$(mktemp -d "${TMPDIR:-/tmp}/presence-http-$TEST_NAME.XXXXXX")
DB="http_t_$$"
SHIM_PID=
SHIM_PORT=
SHIM_LOG=
BASE=
TEST_ROLE=
TEST_NO=0
FAILED=0
export PGDATABASE=postgres

# ---------- TAP ----------

plan() { echo "1..$1"; }

ok() {
	# ok <0|1 as shell status of a test command> <description>
	local status=$1; shift
	TEST_NO=$((TEST_NO + 1))
	if [ "$status" -eq 0 ]; then
		echo "ok $TEST_NO - $*"
	else
		echo "not ok $TEST_NO - $*"
		echo "# failed: $TEST_NO - $* (${0##*/})" >&2	# Test::More's way: prove shows it without -v
		FAILED=$((FAILED + 1))
	fi
}

check() {
	# check <description> <command...>: ok when the command succeeds
	local desc=$1; shift
	if "$@"; then ok 0 "$desc"; else ok 1 "$desc"; fi
}

is() {
	# is <got> <expected> <description>
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got:      '$1'" >&2
		echo "#   expected: '$2'" >&2
	fi
}

like() {
	# like <got> <extended regex> <description>
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		echo "#   got:      '$1'" >&2
		echo "#   expected to match: /$2/" >&2
	fi
}

diag() { echo "# $*"; }

bail() { echo "Bail out! $*"; exit 255; }

# Valid JSON?  (perl's core JSON::PP, so no extra tool is needed)
is_json() {
	printf '%s' "$1" | perl -MJSON::PP -e 'local $/; decode_json(<STDIN>); 1' 2>/dev/null
}

# ---------- database ----------

sql() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$DB" -c "$1"; }

setup_db() {
	createdb "$DB" || bail "cannot create database $DB"
	sql "CREATE EXTENSION presence" >/dev/null || bail "CREATE EXTENSION presence failed in $DB"
	sql "SELECT presence.set_secret('$SECRET')" >/dev/null ||
		bail "presence.set_secret() failed in $DB"
}

drop_db() {
	dropdb --if-exists --force "$DB" 2>/dev/null || dropdb --if-exists "$DB" 2>/dev/null
}

# ---------- the shim ----------

# start_shim [flags...]: start presence-http on a free loopback port
start_shim() {
	SHIM_STARTS=$((${SHIM_STARTS:-0} + 1))
	SHIM_LOG=$WORK/shim.$SHIM_STARTS.log
	: >"$SHIM_LOG"
	"$PRESENCE_HTTP_BIN" --db "dbname=$DB" --listen 127.0.0.1:0 "$@" 2>"$SHIM_LOG" &
	SHIM_PID=$!
	for _ in $(seq 1 100); do
		SHIM_PORT=$(sed -n 's/.*listening on .*(port \([0-9][0-9]*\)).*/\1/p' "$SHIM_LOG")
		[ -n "$SHIM_PORT" ] && break
		kill -0 "$SHIM_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$SHIM_PORT" ] || { cat "$SHIM_LOG" >&2; bail "presence-http did not start"; }
	BASE="http://127.0.0.1:$SHIM_PORT"
}

stop_shim() {
	if [ -n "$SHIM_PID" ] && kill -0 "$SHIM_PID" 2>/dev/null; then
		kill -TERM "$SHIM_PID" 2>/dev/null
		wait "$SHIM_PID" 2>/dev/null
	fi
	SHIM_PID=
}

cleanup() {
	stop_shim
	# If the job list still has children (background curl, psql), end them.
	local p
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
	stop_pgbouncers
	drop_db
	[ -n "${TEST_ROLE:-}" ] && psql -X -q -c "DROP ROLE IF EXISTS $TEST_ROLE" 2>/dev/null
	if [ "${KEEP_WORK:-}" = "" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ---------- deliveries ----------

now_ms() { date +%s%3N; }

# sign [ts]: set NONCE, TS and SIG for a fresh delivery
sign() {
	NONCE="n$$$RANDOM$RANDOM"
	NONCE=${NONCE:0:18}
	TS=${1:-$(now_ms)}
	SIG=$(printf %s "$SECRET$NONCE$TS" | sha1sum | cut -d' ' -f1)
}

# envelope <event id> <user> <status> [session id] [time ms]
envelope() {
	local t=${5:-$(now_ms)} sess=""
	[ -n "${4:-}" ] && sess=",\"sessionId\":\"$4\""
	printf '{"type":"user:connection_status","id":"%s","time":%s,"data":[{"status":"%s","userId":"%s","os":"iOS","time":%s%s}]}' \
		"$1" "$t" "$3" "$2" "$t" "$sess"
}

# post <url> <body> [curl args...]: sets CODE, BODY and HEADERS
post() {
	local url=$1 body=$2; shift 2
	CODE=$(curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' \
		--max-time 30 "$@" --data-binary "$body" "$url")
	BODY=$(cat "$WORK/body" 2>/dev/null)
	HEADERS=$(tr -d '\r' <"$WORK/headers" 2>/dev/null)
}

# get <url> [curl args...]: sets CODE, BODY and HEADERS
get() {
	local url=$1; shift
	CODE=$(curl -s -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' \
		--max-time 30 "$@" "$url")
	BODY=$(cat "$WORK/body" 2>/dev/null)
	HEADERS=$(tr -d '\r' <"$WORK/headers" 2>/dev/null)
}

# deliver <body>: a freshly signed delivery through the query string
deliver() {
	sign
	post "$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$1"
}

header() {
	# header <name>: the value of a response header from the last request
	printf '%s\n' "$HEADERS" | awk -v IGNORECASE=1 -v h="$1" \
		'BEGIN { h = tolower(h) } { n = tolower($0); sub(/:.*/, "", n); if (n == h) { sub(/^[^:]*: */, ""); print; exit } }'
}

# ---------- holding a delivery in flight ----------

locked() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'")" = 1 ]
}
blocked() {
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'presence-http' AND wait_event_type = 'Lock'")" -ge 1 ]
}
# hold_user <user> <status> <session> <seconds>: lock the user's row for a
# while (in psql, pid $locker), then send a delivery for that user that waits
# for the lock (curl, pid $held; code and body in $WORK/held.code, held.body)
hold_user() {
	psql -X -q -d "$DB" -c "BEGIN; SELECT 1 FROM presence.users WHERE user_id = '$1' FOR UPDATE; SELECT pg_sleep($4); COMMIT;" \
		>/dev/null 2>&1 &
	locker=$!
	wait_until 10 locked || diag "lock holder did not start"
	sign
	curl -s -o "$WORK/held.body" -w '%{http_code}' --max-time 30 \
		--data-binary "$(envelope "ev-held-$2" "$1" "$2" "$3")" \
		"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" >"$WORK/held.code" &
	held=$!
	wait_until 10 blocked || diag "the held delivery did not block on the lock"
}

# wait_until <seconds> <command...>: poll until the command succeeds
wait_until() {
	local secs=$1; shift
	local end=$(($(date +%s) + secs))
	while ! "$@"; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.1
	done
}

# ---------- timing and the server log ----------

# ms_since <start ms>: milliseconds elapsed since then
ms_since() { echo $(($(now_ms) - $1)); }

# The test cluster's log, as scripts/lib.sh's start_cluster writes it.
SERVER_LOG=${PRESENCE_SERVER_LOG:-${PGHOST:-/nonexistent}/server.log}
# server_log_mark: the log's current size; server_log_since <mark>: what came after
server_log_mark() { stat -c %s "$SERVER_LOG" 2>/dev/null || echo 0; }
server_log_since() { tail -c +$(($1 + 1)) "$SERVER_LOG" 2>/dev/null; }

# ---------- pgbouncer in front of the test cluster ----------

PGB_DIRS=()

# as_pg_owner <cmd...>: run as the cluster's owner (postgres when we are root)
as_pg_owner() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_pgbouncer <name> <transaction|session> [extra pgbouncer.ini lines...]:
# a pgbouncer on 127.0.0.1 for the test cluster's socket (auth_type trust,
# users from pg_roles), run as the cluster's owner with its own configuration
# in $WORK/pgb-<name>.  Sets PGB_PORT; cleanup stops it.  The port is the first
# free one from PRESENCE_PGBOUNCER_PORT (default PGPORT + 30) on.
start_pgbouncer() {
	local name=$1 mode=$2 dir=$WORK/pgb-$1 base port
	shift 2
	command -v pgbouncer >/dev/null || bail "pgbouncer is not installed"
	chmod 711 "$WORK"
	mkdir -p "$dir"
	psql -X -At -c "SELECT '\"' || rolname || '\" \"\"' FROM pg_roles WHERE rolcanlogin" >"$dir/users.txt"
	base=${PRESENCE_PGBOUNCER_PORT:-$((PGPORT + 30))}
	for port in $(seq "$base" $((base + 9))); do
		port_in_use "$port" && continue
		cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$PGHOST port=$PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = $mode
default_pool_size = 4
max_client_conn = 200
server_login_retry = 1
server_reset_query = DISCARD ALL
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
		[ $# -eq 0 ] || printf '%s\n' "$@" >>"$dir/pgbouncer.ini"
		[ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
		as_pg_owner pgbouncer -d -q "$dir/pgbouncer.ini" 2>>"$dir/start.err"
		PGB_DIRS+=("$dir")
		if wait_until 5 port_in_use "$port" && [ -s "$dir/pgbouncer.pid" ]; then
			PGB_PORT=$port
			return 0
		fi
	done
	cat "$dir/start.err" "$dir/pgbouncer.log" >&2 2>/dev/null
	bail "pgbouncer did not start"
}

stop_pgbouncers() {
	local d pid
	for d in "${PGB_DIRS[@]}"; do
		pid=$(cat "$d/pgbouncer.pid" 2>/dev/null) || continue
		[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	done
	PGB_DIRS=()
}
