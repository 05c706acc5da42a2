#!/bin/bash
# test/http/06_startup.sh: presence-http refuses to start (exit 1, a clear
# message) without a reachable database that has the presence extension;
# --help and bad flags.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 10

# run_shim <flags...>: run it in the foreground; sets RC and OUT
run_shim() {
	OUT=$(timeout 20 "$PRESENCE_HTTP_BIN" --listen 127.0.0.1:0 "$@" 2>&1 </dev/null)
	RC=$?
}

createdb "$DB" || bail "cannot create database $DB"
run_shim --db "dbname=$DB"
is "$RC" 1 "a database without the extension: exit status 1"
like "$OUT" 'presence extension' "the message says the extension is missing"
like "$OUT" 'CREATE EXTENSION presence' "and how to fix it"

run_shim --db "host=$WORK port=1 dbname=nowhere connect_timeout=2"
is "$RC" 1 "an unreachable database: exit status 1"
like "$OUT" 'cannot connect to the database' "the message says so"

run_shim --db "dbname=$DB password=hunter2-secret user=nobody_$$"
if printf '%s' "$OUT" | grep -q hunter2; then leak=1; else leak=0; fi
ok $leak "a password in --db is never printed"

run_shim --help
is "$RC" 0 "--help exits 0"
like "$OUT" 'PRESENCE_HTTP_BATCH_WAIT_US' "--help names the environment variables"

run_shim --workers 0
is "$RC" 2 "an invalid flag value: exit status 2"
run_shim --no-such-flag
is "$RC" 2 "an unknown flag: exit status 2"
