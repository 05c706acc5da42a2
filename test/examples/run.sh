#!/bin/bash
# test/examples/run.sh: the app-owned handlers of examples/ (contract section
# 15), each run for real: a signed delivery in over HTTP is applied by
# presence_ingest (the row in presence.users), its feed message comes out on
# the handler's server-sent event stream, a signed pre_messaging delivery is
# answered {"pass": true}, and an unsigned one gets 401 and changes nothing.
# TAP output; needs the libpq environment of a cluster with presence
# installed (as test/http/lib.bash), node with npm (the npm registry, for
# `npm ci` of examples/node's package-lock.json), python3-psycopg2, and
# Debian's golang-go and golang-github-lib-pq-dev (no module proxy needed).

# shellcheck source=../http/lib.bash
. "$(dirname "$0")/../http/lib.bash"

PYTHON=${PRESENCE_EXAMPLES_PYTHON:-/usr/bin/python3}

plan 23
setup_db
sql "ALTER DATABASE $DB SET presence.feed = 'notify'" >/dev/null || bail "cannot set presence.feed"

# start_handler <name> <command...>: run it on a free port; sets APP and APP_PID
start_handler() {
	local name=$1; shift
	PORT=0 PGDATABASE=$DB "$@" >"$WORK/$name.log" 2>&1 &
	APP_PID=$!
	wait_until 20 grep -q '^listening on port [0-9]*$' "$WORK/$name.log" ||
		{ sed 's/^/# /' "$WORK/$name.log"; return 1; }
	APP="http://127.0.0.1:$(sed -n 's/^listening on port \([0-9]*\)$/\1/p' "$WORK/$name.log")"
}

# exercise <name> <user>: the five checks against the handler at $APP
exercise() {
	local name=$1 user=$2 sse=$WORK/$1.sse
	curl -sN --max-time 60 "$APP/events" >"$sse" &
	local sse_pid=$!
	wait_until 10 grep -q ': connected' "$sse" || diag "$name: the event stream did not open"
	sign
	post "$APP/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" "$(envelope "ev-$user" "$user" 0 s1)"
	is "$CODE" 200 "$name: a signed connect over HTTP gets 200"
	is "$(sql "SELECT online FROM presence.users WHERE user_id = '$user'")" t "$name: the user is online in the database"
	check "$name: the feed message is on the event stream" wait_until 10 grep -q "\"$user\"" "$sse"
	sign
	post "$APP/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" \
		"{\"type\":\"message:pre_messaging\",\"id\":\"pm-$user\",\"time\":$(now_ms),\"data\":[{\"fromUserId\":\"$user\"}]}"
	like "$CODE $BODY" '^200 \{"pass": ?true\}$' "$name: a signed pre_messaging delivery is answered {\"pass\": true}"
	post "$APP/webhook" "$(envelope "ev-$user-unsigned" "$user" 1 s1)"
	is "$CODE" 401 "$name: an unsigned delivery gets 401"
	is "$(sql "SELECT online FROM presence.users WHERE user_id = '$user'")" t "$name: and changes nothing"
	kill "$sse_pid" 2>/dev/null
}

# ---------- Python (psycopg2) ----------
if start_handler python "$PYTHON" "$REPO_ROOT/examples/python/handler.py"; then
	ok 0 "python: the handler starts"
	exercise python ex_python
	kill "$APP_PID"
else
	ok 1 "python: the handler starts"
fi

# ---------- Node.js (pg) ----------
(cd "$REPO_ROOT/examples/node" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1
check "node: npm ci installs pg from package-lock.json" test -d "$REPO_ROOT/examples/node/node_modules/pg"
if start_handler node node "$REPO_ROOT/examples/node/handler.js"; then
	ok 0 "node: the handler starts"
	exercise node ex_node
	kill "$APP_PID"
else
	ok 1 "node: the handler starts"
fi

# ---------- Go (database/sql and lib/pq, from Debian's packages) ----------
check "go: the handler builds against Debian's lib/pq" env GO111MODULE=off GOPATH=/usr/share/gocode \
	GOCACHE="$WORK/gocache" go build -o "$WORK/go-handler" "$REPO_ROOT/examples/go/handler.go"
if start_handler go "$WORK/go-handler"; then
	ok 0 "go: the handler starts"
	exercise go ex_go
	kill "$APP_PID"
else
	ok 1 "go: the handler starts"
fi
