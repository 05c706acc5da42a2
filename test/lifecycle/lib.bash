# test/lifecycle/lib.bash: shared helpers of the upgrade and backup tests.
#
# Sourced by test/lifecycle/*.sh; its name keeps it out of
# "prove -e bash test/lifecycle/*.sh".  Needs a running PostgreSQL reachable
# through PGHOST, PGPORT and PGUSER (a superuser) with this tree's presence
# installed, as scripts/test provides.
#
# A database created at 0.1.0 must be fed by the 0.1.0 library: the new one
# refuses to ingest under old SQL (55000).  So these tests do not use that
# server for their databases; they copy its installation into a scratch
# directory (hard links where possible), build the 0.1.0 library from this
# repository's git history into the copy, and run a private cluster on it,
# which they restart on the new library as an upgrade does ("install the new
# files", then ALTER EXTENSION presence UPDATE).  The server of scripts/test
# and its installation are only read.  KEEP_WORK=1 keeps the scratch
# directory (the private cluster's log) for debugging.

# Variables set here are read by the test scripts that source this file.
# shellcheck disable=SC2034
set -euo pipefail

TEST_NAME=$(basename "$0" .sh)
REPO_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/presence-lifecycle-$TEST_NAME.XXXXXX")
chmod 755 "$WORK"
TEST_NO=0
FAILED=0
CLUSTER_STARTED=
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
		FAILED=$((FAILED + 1))
	fi
}

is() {
	# is <got> <expected> <description>
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "  got:      '$1'"
		diag "  expected: '$2'"
	fi
}

like() {
	# like <got> <extended regex> <description>
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		diag "  got:      '$1'"
		diag "  expected to match: /$2/"
	fi
}

# same <file a> <file b> <description>: ok when equal, else the diff
same() {
	if diff -u "$1" "$2" >"$WORK/diff.out"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		sed 's/^/#   /' "$WORK/diff.out" | head -200
	fi
}

# empty <file> <description>: ok when the file has no lines, else them
empty() {
	if [ ! -s "$1" ]; then
		ok 0 "$2"
	else
		ok 1 "$2"
		sed 's/^/#   /' "$1" | head -50
	fi
}

diag() { echo "# $*"; }

bail() { echo "Bail out! $*"; exit 255; }

skip_all() { echo "1..0 # SKIP $*"; exit 0; }

# ---------- the private installation and cluster ----------

# The installation the server of scripts/test runs from.
server_dir() { psql -X -At -d postgres -c "SELECT setting FROM pg_catalog.pg_config WHERE name = '$1'"; }

# private_install: copy the server's installation to $WORK/pg; set PG_BIN,
# PKGLIB and NEW_SO (the new library, as installed) and put PG_BIN first on PATH.
private_install() {
	local bindir pkglibdir sharedir prefix d
	if ! { bindir=$(server_dir BINDIR) && pkglibdir=$(server_dir PKGLIBDIR) && sharedir=$(server_dir SHAREDIR); }; then
		bail "cannot ask the server (PGHOST=${PGHOST:-}, PGPORT=${PGPORT:-}) where it is installed"
	fi
	# The longest directory prefix of the three: the copy keeps the layout
	# below it, so the copied binaries find the copied library and share dirs.
	prefix=$bindir
	while [ "${pkglibdir#"$prefix"/}" = "$pkglibdir" ] || [ "${sharedir#"$prefix"/}" = "$sharedir" ]; do
		prefix=$(dirname "$prefix")
	done
	for d in "$bindir" "$pkglibdir" "$sharedir"; do
		mkdir -p "$WORK/pg${d#"$prefix"}"
		cp -al "$d/." "$WORK/pg${d#"$prefix"}/" 2>/dev/null || cp -a "$d/." "$WORK/pg${d#"$prefix"}/"
	done
	SERVER_PG_CONFIG=$bindir/pg_config
	PG_BIN=$WORK/pg${bindir#"$prefix"}
	PKGLIB=$WORK/pg${pkglibdir#"$prefix"}
	NEW_SO=$pkglibdir/presence.so
	[ "$("$PG_BIN/pg_config" --pkglibdir)" = "$PKGLIB" ] ||
		bail "the copied installation does not find its own library directory"
	export PATH="$PG_BIN:$PATH"
}

# old_library: build the 0.1.0 library from git into $WORK/old/presence.so.
# The 0.1.0 sources are those of the last commit whose presence.control still
# had default_version '0.1.0' (or of PRESENCE_OLD_REV).  They build on
# PostgreSQL 15 alone: on a later major OLD_LIBRARY is set to none instead.
OLD_LIBRARY=
old_library() {
	local rev=${PRESENCE_OLD_REV:-} major
	major=$("$SERVER_PG_CONFIG" --version | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
	if [ "$major" != 15 ]; then
		OLD_LIBRARY=none
		diag "the 0.1.0 library builds only on PostgreSQL 15, not on $major"
		return 0
	fi
	OLD_LIBRARY=$WORK/old/presence.so
	if [ -z "$rev" ]; then
		git -C "$REPO_ROOT" rev-parse --git-dir >/dev/null 2>&1 || skip_all "no git history to build the 0.1.0 library from"
		# The newest commit that changed how often the 0.1.0 line appears is the one that left 0.1.0.
		rev=$(git -C "$REPO_ROOT" log --format=%H -1 -S"default_version = '0.1.0'" -- presence.control)
		[ -n "$rev" ] || skip_all "no 0.1.0 in the git history of presence.control"
		rev=$rev^
	fi
	git -C "$REPO_ROOT" show "$rev:presence.control" | grep -q "default_version = '0.1.0'" ||
		bail "$rev is not 0.1.0"
	mkdir -p "$WORK/old"
	git -C "$REPO_ROOT" archive "$rev" Makefile presence.control src | tar -x -C "$WORK/old"
	make -s -C "$WORK/old" PG_CONFIG="$SERVER_PG_CONFIG" presence.so >"$WORK/old/build.log" 2>&1 ||
		{ cat "$WORK/old/build.log" >&2; bail "cannot build the 0.1.0 library from $rev"; }
	diag "the 0.1.0 library is built from $(git -C "$REPO_ROOT" rev-parse --short "$rev")"
}

# use_library <file>: install it as the private installation's presence.so
# (a new file: the old one may be a hard link into the real installation).
use_library() {
	rm -f "$PKGLIB/presence.so"
	cp "$1" "$PKGLIB/presence.so"
	chmod 755 "$PKGLIB/presence.so"
}

# start_private / restart_private: the private cluster in $WORK/cluster, on
# its own socket directory (no TCP), preloading presence as scripts/test does.
start_private() {
	# shellcheck source=../../scripts/lib.sh
	. "$REPO_ROOT/scripts/lib.sh"
	start_cluster "$WORK/cluster" "${PGPORT:-5432}" >/dev/null
	CLUSTER_STARTED=1
	SERVER_LOG=$WORK/cluster/server.log
	[ "$(server_dir PKGLIBDIR)" = "$PKGLIB" ] || bail "the private cluster does not run from the copied installation"
}

restart_private() {
	stop_cluster "$WORK/cluster"
	start_cluster "$WORK/cluster" "$PGPORT" >/dev/null
}

cleanup() {
	[ -n "$CLUSTER_STARTED" ] && stop_cluster "$WORK/cluster"
	if [ "${KEEP_WORK:-}" = "" ]; then rm -rf "$WORK"; else echo "# kept $WORK" >&2; fi
}
trap cleanup EXIT

# No backend of the private cluster died of a signal (a crash).
no_crash_in_log() { ! grep -E 'terminated by signal|was terminated|PANIC' "$SERVER_LOG"; }

# ---------- databases ----------

# sql <db> <statement>: one value per line, fields separated by '|'
sql() { psql -X -q -v ON_ERROR_STOP=1 -At -d "$1" -c "$2"; }

# try_sql <db> <statement>: the SQLSTATE, message and hint of its error
# (verbose), or "ok"
try_sql() {
	local out
	if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" \
		-c '\set VERBOSITY verbose' -c "$2" 2>&1 >/dev/null); then
		echo ok
	else
		printf '%s\n' "$out" | grep -E '^(ERROR|HINT|FATAL|PANIC|server closed)' | tr '\n' ' '
	fi
}

# The tables of schema presence.
presence_tables() {
	sql "$1" "SELECT c.relname FROM pg_catalog.pg_class c
	           WHERE c.relnamespace = 'presence'::regnamespace AND c.relkind IN ('r', 'p')
	           ORDER BY 1"
}

# A column whose default is the time it was written (now() or one of its
# synonyms) holds when a row was ingested, not what was ingested.
TIME_OF_WRITE='(now|clock_timestamp|statement_timestamp|transaction_timestamp)\(\)|current_timestamp|localtimestamp'

# dump_rows <db> <all|content> <file>: every row of every table of schema
# presence, each table ordered by all of its columns (as text, byte-wise);
# "content" leaves out the columns whose default is the time of the write.
dump_rows() {
	local db=$1 which=$2 out=$3 t cols
	: >"$out"
	for t in $(presence_tables "$db"); do
		cols=$(sql "$db" "SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ',' ORDER BY a.attnum)
		                    FROM pg_catalog.pg_attribute a
		                    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		                   WHERE a.attrelid = 'presence.$t'::regclass AND a.attnum > 0 AND NOT a.attisdropped
		                     AND ('$which' = 'all'
		                          OR coalesce(pg_catalog.pg_get_expr(d.adbin, d.adrelid), '') !~* '$TIME_OF_WRITE')")
		echo "== presence.$t ($cols)" >>"$out"
		psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "COPY (SELECT $cols FROM presence.$t
			ORDER BY $(order_by "$cols")) TO STDOUT" >>"$out"
	done
}

# dump_rows_like <db> <dump> <file>: the tables and columns of an earlier
# dump_rows, as they are now in db (what an update must keep, whatever it adds)
dump_rows_like() {
	local db=$1 t cols
	: >"$3"
	sed -n 's/^== presence\.\([^ ]*\) (\(.*\))$/\1 \2/p' "$2" | while read -r t cols; do
		echo "== presence.$t ($cols)" >>"$3"
		psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "COPY (SELECT $cols FROM presence.$t
			ORDER BY $(order_by "$cols")) TO STDOUT" >>"$3"
	done
}

# order_by <a,b,...>: every column as text, byte-wise
order_by() { printf '%s' "$1" | sed 's/\([^,][^,]*\)/\1::text COLLATE "C"/g'; }

# check_rows <db> <file>: what presence.check() says (nothing when all is well)
check_rows() { sql "$1" "SELECT * FROM presence.check()" >"$2"; }

# describe <db> <file>: the extension's objects, as sorted text
describe() {
	psql -X -q -v ON_ERROR_STOP=1 -At -F '	' -d "$1" -f "$REPO_ROOT/test/lifecycle/describe.sql" >"$2"
}

# ---------- deliveries ----------

SECRET='lifecycle-s3cret'
APP_SECRET='app-only-s3cret'
ROTATED_SECRET='rotated-s3cret'	# replaces SECRET in part 2 of the history
APP_KEY='app-1'
BASE_MS=1730192400000
CALL_NO=0

ms() { echo $((BASE_MS + $1 * 1000)); }

# item <status> <user> <second> [session] [os] [client ip]: one status item
item() {
	local s
	s=$(printf '"status":"%s","userId":"%s","time":%s' "$1" "$2" "$(ms "$3")")
	[ -n "${4:-}" ] && s="$s,\"sessionId\":\"$4\""
	[ -n "${5:-}" ] && s="$s,\"os\":\"$5\""
	[ -n "${6:-}" ] && s="$s,\"clientIp\":\"$6\""
	printf '{%s}' "$s"
}

# envelope <id> <second> <item>...: the current body shape
envelope() {
	local id=$1 t=$2 items
	shift 2
	items=$(IFS=,; echo "$*")
	printf '{"type":"user:connection_status","id":"%s","time":%s,"data":[%s]}' "$id" "$(ms "$t")" "$items"
}

# room_envelope <id> <second> <room item>...: an open_channel:operation envelope (0.3.0)
room_envelope() {
	local id=$1 t=$2 items
	shift 2
	items=$(IFS=,; echo "$*")
	printf '{"type":"open_channel:operation","id":"%s","time":%s,"data":[%s]}' "$id" "$(ms "$t")" "$items"
}

# room_item <operationType> <room> <second> <status> [user...]: one room item
room_item() {
	local op=$1 room=$2 t=$3 st=$4 users=
	shift 4
	[ $# -gt 0 ] && users=$(printf ',"userIds":["%s"]' "$(IFS=,; echo "$*" | sed 's/,/","/g')")
	printf '{"channelId":"%s","operationType":%s,"status":%s,"time":%s%s}' \
		"$room" "$op" "$st" "$(ms "$t")" "$users"
}

# sign <secret>: NONCE, TS and SIG of a fresh triple, signed now
sign() {
	CALL_NO=$((CALL_NO + 1))
	NONCE="n$CALL_NO-$$-$RANDOM"
	NONCE=${NONCE:0:18}
	TS=$(date +%s%3N)
	SIG=$(printf %s "$1$NONCE$TS" | sha1sum | cut -d' ' -f1)
}

# Each delivery is written as SQL to the file $OUT: its result row (or
# rows), then its label and SQLSTATE, so that the same file run on two
# databases must print the same lines.  Bodies are dollar-quoted.
q() { if [ -z "$1" ]; then echo NULL; else printf "'%s'" "$1"; fi; }

call() {
	CALL_NO=$((CALL_NO + 1))
	printf 'SELECT %s, r.* FROM %s r;\n\\echo %s :SQLSTATE\n' "'d$CALL_NO'" "$1" "d$CALL_NO" >>"$OUT"
}

# unsigned <body>
unsigned() { call "presence_ingest_unsigned(\$j\$$1\$j\$)"; }

# signed <secret> <app key or ''> <body>: a fresh triple; kept in LAST_*
signed() {
	sign "$1"
	LAST_NONCE=$NONCE LAST_TS=$TS LAST_SIG=$SIG LAST_APP=$2 LAST_BODY=$3
	resend "$NONCE" "$TS" "$SIG" "$2" "$3"
}

# resend <nonce> <ts> <sig> <app key or ''> <body>: a given triple
resend() { call "presence_ingest(\$j\$$5\$j\$, $(q "$1"), $(q "$2"), $(q "$3"), $(q "$4"))"; }

# batch <secret|BAD> <app key or ''> <body> [<secret|BAD> <app key> <body>]...
batch() {
	local bodies="" nonces="" tss="" sigs="" apps="" sep=""
	while [ $# -ge 3 ]; do
		sign "$1"
		[ "$1" = BAD ] && SIG=0000000000000000000000000000000000000000
		bodies="$bodies$sep\$j\$$3\$j\$" nonces="$nonces$sep$(q "$NONCE")" tss="$tss$sep$(q "$TS")"
		sigs="$sigs$sep$(q "$SIG")" apps="$apps$sep$(q "$2")::text"
		sep=,
		shift 3
	done
	call "presence_ingest_batch(ARRAY[$bodies], ARRAY[$nonces], ARRAY[$tss], ARRAY[$sigs], ARRAY[$apps])"
}

# admin <statement>: a statement of the history that is not a delivery
admin() {
	CALL_NO=$((CALL_NO + 1))
	printf '%s;\n\\echo d%s :SQLSTATE\n' "$1" "$CALL_NO" >>"$OUT"
}

# feed <db> <file> <log>: run a history file; its output lines go to the log
feed() { psql -X -q -At -v ON_ERROR_STOP=0 -d "$1" -f "$2" >>"$3" 2>>"$WORK/feed.err"; }

# write_history <part 1 file> <part 2 file>: the history both tests feed:
# several users, identified and anonymous sessions, connects, disconnects
# and logouts, duplicates, stale and out-of-order items, batched envelopes,
# legacy bodies, another event type, signed deliveries with and without app
# key, group commit with a refused delivery, wrong signatures, replays with
# the same and another body (also across the two parts), secret rotation; room items (part 2, which the 0.1.0 library never sees).
# OLD_TRIPLE is the nonce, timestamp, signature, app key and body of a
# signed delivery of part 1, LATE_TRIPLE those of one of part 2 signed with
# the secret that is active at the end.
write_history() {
	OUT=$1
	: >"$OUT"
	admin "SELECT presence.set_secret('$SECRET')"
	admin "SELECT presence.set_secret('$APP_SECRET', '$APP_KEY')"
	# alice: identified sessions, a re-sent copy with another client ip, a stale connect.
	# The copy's ip is the lesser: 0.1.0 kept the first copy, 0.2.0 keeps the byte-wise
	# greatest, and both keep 10.0.0.9 (part 2 re-sends it with a greater one).
	unsigned "$(envelope e1 0 "$(item 0 alice 0 s1 iOS 10.0.0.9:5000)")"
	signed "$SECRET" "" "$(envelope e2 10 "$(item 0 alice 10 s2 Android 10.0.0.2:5000)")"
	OLD_TRIPLE=("$LAST_NONCE" "$LAST_TS" "$LAST_SIG" "$LAST_APP" "$LAST_BODY")
	unsigned "$(envelope e1-again 0 "$(item 0 alice 0 s1 iOS 10.0.0.1:5000)")"
	unsigned "$(envelope e3 1 "$(item 0 alice -5 s1)")"
	# a batched envelope: bob anonymous, carol, dave's disconnect before his connect
	unsigned "$(envelope e4 30 "$(item 0 bob 5 '' PC)" "$(item 0 carol 6 c1 Web 192.168.1.7:80)" "$(item 1 dave 30 d1)")"
	# legacy bodies: one object (userid spelling, string time), an array (integer statuses)
	unsigned "{\"status\":\"0\",\"userid\":\"dave\",\"time\":\"$(ms 20)\",\"sessionId\":\"d1\",\"os\":\"iOS\"}"
	signed "$APP_SECRET" "$APP_KEY" "[{\"status\":1,\"userId\":\"bob\",\"time\":$(ms 15)},{\"status\":0,\"userId\":\"bob\",\"time\":$(ms 25),\"clientIp\":\"10.1.0.9:1\"}]"
	# another event type: acknowledged, ignored
	unsigned "{\"type\":\"user:profile\",\"id\":\"x1\",\"time\":$(ms 31),\"data\":[$(item 0 zed 31)]}"
	# group commit: one refused (bad signature) among good ones, with and without app key
	batch "$SECRET" "" "$(envelope e5 40 "$(item 0 eve 40 v1 HarmonyOS)")" \
		BAD "" "$(envelope e6 41 "$(item 2 eve 41 v1)")" \
		"$APP_SECRET" "$APP_KEY" "$(envelope e7 42 "$(item 0 frank 42)")"
	# refused: a wrong signature; the app-only secret without its app key
	resend n-wrong "$(date +%s%3N)" 0123456789abcdef0123456789abcdef01234567 "" "$(envelope e8 43 "$(item 0 mallory 43)")"
	sign "$APP_SECRET"
	resend "$NONCE" "$TS" "$SIG" "" "$(envelope e9 44 "$(item 0 mallory 44)")"
	# the same triple again: same body (a retry, all duplicates), another body (refused)
	resend "${OLD_TRIPLE[@]}"
	resend "${OLD_TRIPLE[0]}" "${OLD_TRIPLE[1]}" "${OLD_TRIPLE[2]}" "" "$(envelope e10 45 "$(item 2 alice 45 s2)")"
	# logout beats disconnect at the same time; a unicode user id; a tie at one time
	unsigned "$(envelope e11 50 "$(item 1 alice 50 s1)" "$(item 2 alice 50 s1)")"
	unsigned "$(envelope e12 55 "$(item 0 'ü-用户' 55 'séance' MiniProgram)")"
	unsigned "$(envelope e13 70 "$(item 0 carol 70 c2)" "$(item 1 carol 70 c2)")"
	unsigned "$(envelope e14 60 "$(item 2 grace 60)")"

	OUT=$2
	: >"$OUT"
	# with a copy of alice's first connect bearing a greater client ip: kept (contract 3.3)
	unsigned "$(envelope e20 100 "$(item 0 alice 100 s3 iOS 10.0.0.3:5000)" "$(item 1 alice 110 s2)" \
		"$(item 0 alice 0 s1 iOS 10.0.1.1:5000)")"
	# bob's anonymous session: a logout, then a late connect that only fills started_at
	signed "$SECRET" "" "$(envelope e21 120 "$(item 2 bob 120)")"
	unsigned "$(envelope e22 118 "$(item 0 bob 118 '' Android)")"
	# a copy of a part 1 item with a greater client ip: kept in its events row
	unsigned "$(envelope e23 6 "$(item 0 carol 6 c1 Web 192.168.1.9:80)")"
	batch "$SECRET" "" "$(envelope e24 130 "$(item 0 dave 130 d2 PC)")" \
		"$APP_SECRET" "$APP_KEY" "[$(item 0 heidi 131 h1),$(item 1 heidi 132 h1),$(item 0 heidi 133 h2)]"
	# a triple remembered before the upgrade: another body refused, a retry a duplicate
	# (in this order, so that a forgotten triple would let the other body in)
	resend "${OLD_TRIPLE[0]}" "${OLD_TRIPLE[1]}" "${OLD_TRIPLE[2]}" "" "$(envelope e25 140 "$(item 0 eve 140)")"
	resend "${OLD_TRIPLE[@]}"
	# rotation: a new secret, the old one dropped
	admin "SELECT presence.set_secret('$ROTATED_SECRET')"
	admin "SELECT presence.drop_secret('$SECRET')"
	signed "$ROTATED_SECRET" "" "$(envelope e26 150 "$(item 1 eve 150 v1)")"
	LATE_TRIPLE=("$LAST_NONCE" "$LAST_TS" "$LAST_SIG" "$LAST_APP" "$LAST_BODY")
	signed "$SECRET" "" "$(envelope e27 151 "$(item 0 ivan 151)")"
	# rooms (0.3.0): joins, a leave beating a join at one time, a destroy, a re-delivery
	unsigned "$(room_envelope e28 160 "$(room_item 1 lobby 160 0 alice bob carol)" "$(room_item 2 lobby 160 2 bob)")"
	unsigned "$(room_envelope e29 170 "$(room_item 3 lobby 170 3)" "$(room_item 1 lobby 175 0 alice)" \
		"$(room_item 0 'salle-ü' 171 0)" "$(room_item 1 'salle-ü' 172 0 dave)")"
	unsigned "$(room_envelope e28-again 160 "$(room_item 1 lobby 160 0 alice bob carol)")"
}
