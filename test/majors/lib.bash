# test/majors/lib.bash: what the tests that need two PostgreSQL majors share.
#
# Sourced by test/majors/*.sh (its name keeps it out of their glob).  These
# tests run as root on the host (scripts/test, with PRESENCE_TEST_MAJORS), and
# run parts of themselves inside the Debian chroots of scripts/chroot, where
# this tree is /src.  Each part prints plain "PASS text" or "FAIL text" lines,
# which the host turns into TAP, so a part can run under any major.

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TEST_NO=0
FAILED=0

plan() { echo "1..$1"; }
diag() { printf '# %s\n' "$*"; }
ok() {	# ok <status> <description>
	TEST_NO=$((TEST_NO + 1))
	if [ "$1" -eq 0 ]; then echo "ok $TEST_NO - $2"; else echo "not ok $TEST_NO - $2"; FAILED=$((FAILED + 1)); fi
}
# tap_from <file>: the PASS/FAIL lines of a part, as TAP; other lines as diagnostics.
tap_from() {
	local line
	while IFS= read -r line; do
		case $line in
			"PASS "*) ok 0 "${line#PASS }" ;;
			"FAIL "*) ok 1 "${line#FAIL }" ;;
			*) diag "$line" ;;
		esac
	done <"$1"
}

# In a part: check <description> <command...>, printing PASS or FAIL.
check() {
	local what=$1; shift
	if "$@"; then echo "PASS $what"; else echo "FAIL $what"; fi
}
# equal <a> <b>: the two strings are the same (else both are printed).
equal() {
	[ "$1" = "$2" ] && return 0
	printf 'got:      %s\nexpected: %s\n' "$1" "$2" | head -20
	return 1
}

# A part's own cluster: start_part_cluster DIR PORT [TCP] starts PostgreSQL of
# the major that PG_BIN names in DIR, on a socket in DIR, and on 127.0.0.1 too
# when TCP is given, as the postgres account; PGHOST and PGPORT point at it.
start_part_cluster() {
	local dir=$1 port=$2 tcp=${3:-}
	mkdir -p "$dir"
	chown postgres: "$dir"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
	cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '${tcp:+127.0.0.1}'
port = $port
unix_socket_directories = '$dir'
shared_preload_libraries = 'presence'
CONF
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
	export PGHOST=$dir PGPORT=$port PGUSER=postgres
}
stop_part_cluster() {
	[ -f "$1/data/postmaster.pid" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1
	return 0
}

# sign SECRET: NONCE, TS (milliseconds, now) and SIG for a signed delivery.
sign() {
	NONCE=n$RANDOM$RANDOM
	TS=$(date +%s%3N)
	SIG=$(printf %s "$1$NONCE$TS" | sha1sum | cut -c1-40)
}
# envelope ID USER STATUS SESSION: a one-item delivery at the current time.
envelope() {
	local t
	t=$(date +%s%3N)
	printf '{"type":"user:connection_status","id":"%s","time":%s,"data":[{"status":"%s","userId":"%s","os":"iOS","time":%s,"clientIp":"10.1.2.3:4","sessionId":"%s"}]}' \
		"$1" "$t" "$3" "$2" "$t" "$4"
}
