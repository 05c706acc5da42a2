#!/bin/bash
# test/majors/dump_restore.sh: moving a presence database to a newer major keeps
# every row (contract section 13; doc/operations.md, Upgrading).
#
# A database on the host's PostgreSQL (15 on Debian 12) is fed a history of
# signed and unsigned deliveries and a maintain() run, then dumped by 17's
# pg_dump (in the chroot of scripts/chroot 17) over 127.0.0.1 and restored
# into a 17 server with pg_restore -j 2; that 17 server, kept running, is
# then dumped by 18's pg_dump and restored into 18.  Each step checks: every
# row of every table of schema presence is the source's, presence.check() is
# empty, a new signed delivery is applied, and a triple the source has seen is
# still refused with another body (the replay binding came along).
set -uo pipefail
# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

SECRET=major-secret
base_port=${PRESENCE_TEST_PORT:-54390}
STEPS=7	# PASS/FAIL lines a restore step prints

# ---------- a part, run inside a chroot: restore FROM_PORT PORT [KEEP] ----------
# Dump the server on 127.0.0.1:FROM_PORT into a new cluster of this chroot's
# major on PORT (and 127.0.0.1), then check it; with KEEP, leave that cluster
# running until $WORK/done appears (the next major dumps it meanwhile).
restore_part() {
	local from=$1 port=$2 keep=${3:-} dir src_rows rows
	export PG_BIN
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
	make -s -C /src clean PG_CONFIG="$PG_BIN/pg_config" >/dev/null 2>&1
	make -s -C /src PG_CONFIG="$PG_BIN/pg_config" install >/dev/null 2>&1 || echo "FAIL the extension builds here"
	make -s -C /src clean PG_CONFIG="$PG_BIN/pg_config" >/dev/null 2>&1
	dir=$WORK/pg-$port
	start_part_cluster "$dir" "$port" tcp || echo "FAIL a cluster of this major starts"
	port=$PGPORT
	"$PG_BIN/pg_dump" -h 127.0.0.1 -p "$from" -U postgres -Fc -f "$dir/source.dump" presence
	check "$("$PG_BIN/pg_dump" --version | cut -d' ' -f3): pg_dump of the older server and pg_restore -j 2" \
		bash -c "createdb presence && pg_restore -j 2 -e -d presence '$dir/source.dump' >'$dir/restore.log' 2>&1"
	src_rows=$(rows -h 127.0.0.1 -p "$from")
	rows=$(rows)
	check "every row of every table of schema presence is the source's ($(wc -l <<<"$rows") lines)" \
		equal "$rows" "$src_rows"
	check "(and the source had rows to compare: more than 100 lines)" test "$(wc -l <<<"$src_rows")" -gt 100
	check "presence.check() is empty" equal "$(psql -qAtX -d presence -c 'SELECT count(*) FROM presence.check()')" 0
	check "the extension is at 0.3.0" \
		equal "$(psql -qAtX -d presence -c "SELECT extversion FROM pg_extension WHERE extname = 'presence'")" 0.3.0
	sign "$SECRET"
	check "a new signed delivery is applied" equal "$(ingest "$(envelope "moved-$port" "mover_$port" 0 s1)")" "(1,1,0,0,0)"
	# With the age check off, only the remembered triple can refuse it.
	check "a triple the source saw, with another body, is refused (28000), the age check off" \
		equal "$(NONCE=$(cat "$WORK/seen.nonce") TS=$(cat "$WORK/seen.ts") SIG=$(cat "$WORK/seen.sig") \
			PGOPTIONS='-c presence.signature_max_age=0' ingest "$(envelope forged mallory 0 s9)")" 28000
	if [ -n "$keep" ]; then
		echo "$port" >"$WORK/ready"
		for _ in $(seq 1 1200); do [ -f "$WORK/done" ] && break; sleep 0.5; done
	fi
	stop_part_cluster "$dir"
}

# rows [psql options]: every row of every table of schema presence, sorted.
rows() {
	local t
	for t in $(psql "$@" -qAtX -d presence -c "SELECT c.relname FROM pg_class c
			WHERE c.relnamespace = 'presence'::regnamespace AND c.relkind = 'r' ORDER BY 1"); do
		echo "== $t"
		PGTZ=UTC psql "$@" -qAtX -d presence -c "SELECT r::text FROM presence.$t r ORDER BY r::text COLLATE \"C\""
	done
}
# ingest BODY: presence_ingest with NONCE, TS and SIG; the result row or the SQLSTATE.
ingest() {
	psql -qAtX -v VERBOSITY=sqlstate -d presence \
		-c "SELECT row(r.*) FROM presence_ingest(\$j\$$1\$j\$, '$NONCE', '$TS', '$SIG') r" 2>&1 | sed 's/^ERROR: *//'
}

if [ "${1:-}" = restore ]; then
	WORK=$2
	shift 2
	restore_part "$@"
	exit 0
fi

# ---------- the host ----------
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP needs root (scripts/chroot)"; exit 0; }
plan $((2 + 2 * STEPS))
. "$REPO_ROOT/scripts/lib.sh"
mkdir -p "$REPO_ROOT/tmp"
WORK=$(mktemp -d "$REPO_ROOT/tmp/majors.XXXXXX")	# inside the tree: /src/tmp/... in the chroots
chmod 755 "$WORK"
CHROOT_WORK=/src/tmp/$(basename "$WORK")
p_old=$((base_port + 30)) p17=$((base_port + 31)) p18=$((base_port + 32))
bg=
cleanup() {
	touch "$WORK/done"
	[ -n "$bg" ] && wait "$bg"
	stop_part_cluster "$WORK/pg-source"
	rm -rf "$WORK"
}
trap cleanup EXIT

# The source, on this machine's major: a history of deliveries and maintain().
start_part_cluster "$WORK/pg-source" "$p_old" tcp || bail "the source cluster does not start"
p_old=$PGPORT
createdb presence
psql -qX -v ON_ERROR_STOP=1 -d presence >/dev/null <<SQL
CREATE EXTENSION presence;
SELECT presence.set_secret('$SECRET');
SELECT presence_ingest_unsigned(format(
	'{"type":"user:connection_status","id":"h-%s","time":%s,"data":[{"status":"%s","userId":"user_%s","os":"%s","time":%s,"clientIp":"10.0.%s.1:5","sessionId":"s%s"}]}',
	i, 1764000000000 + i * 1000, (i / 7) % 3, i % 40, (ARRAY['iOS','Android','PC'])[1 + i % 3],
	1764000000000 + i * 1000, i % 250, i % 5))
  FROM generate_series(1, 600) i;
CALL presence.maintain();
-- Rooms (0.3.0), after maintain() so that they are kept: joins, leaves, a destroy.
SELECT presence_ingest_unsigned(format(
	'{"type":"open_channel:operation","id":"r-%s","time":%s,"data":[{"channelId":"room_%s","userIds":["user_%s","user_%s"],"operationType":%s,"status":%s,"time":%s}]}',
	i, t, i % 7, i % 40, (i * 3) % 40, 1 + (i / 5) % 2, i % 3, t))
  FROM (SELECT i, (extract(epoch FROM now()) * 1000)::bigint - 3600000 + i * 1000 AS t
		  FROM generate_series(1, 120) i) g;
SELECT presence_ingest_unsigned('{"type":"open_channel:operation","id":"r-d","time":1,"data":[{"channelId":"room_3","operationType":3,"status":3,"time":'
	|| ((extract(epoch FROM now()) * 1000)::bigint - 1800000) || '}]}');
SQL
sign "$SECRET"
printf %s "$NONCE" >"$WORK/seen.nonce"; printf %s "$TS" >"$WORK/seen.ts"; printf %s "$SIG" >"$WORK/seen.sig"
ok "$([ "$(ingest "$(envelope seen seen_user 0 s1)")" = "(1,1,0,0,0)" ]; echo $?)" \
	"PostgreSQL $PG_MAJOR: the source takes a signed delivery, and remembers its triple"
ok "$([ "$(psql -qAtX -d presence -c 'SELECT count(*) FROM presence.check()')" = 0 ] &&
	[ "$(psql -qAtX -d presence -c 'SELECT count(*) > 30 FROM presence.users')" = t ] &&
	[ "$(psql -qAtX -d presence -c 'SELECT count(*) = 7 AND sum(members) > 0 FROM presence.rooms')" = t ]; echo $?)" \
	"the source has its users, its rooms and an empty presence.check()"

# 17 dumps the source and keeps its server up while 18 dumps it in turn.
"$REPO_ROOT/scripts/chroot" 17 test/majors/dump_restore.sh restore "$CHROOT_WORK" "$p_old" "$p17" keep \
	>"$WORK/17.out" 2>&1 &
bg=$!
for _ in $(seq 1 1200); do
	[ -s "$WORK/ready" ] && break
	kill -0 "$bg" 2>/dev/null || break
	sleep 0.5
done
p17=$(cat "$WORK/ready" 2>/dev/null)
"$REPO_ROOT/scripts/chroot" 18 test/majors/dump_restore.sh restore "$CHROOT_WORK" "${p17:-1}" "$p18" \
	>"$WORK/18.out" 2>&1
touch "$WORK/done"
wait "$bg"
bg=
diag "$PG_MAJOR to 17:"
tap_from "$WORK/17.out"
diag "17 to 18:"
tap_from "$WORK/18.out"
[ "$TEST_NO" -eq $((2 + 2 * STEPS)) ] || { echo "Bail out! ran $TEST_NO checks of $((2 + 2 * STEPS))"; exit 1; }
exit $((FAILED > 0))
