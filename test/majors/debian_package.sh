#!/bin/bash
# test/majors/debian_package.sh: the Debian packages build with pg_buildext and
# work once installed (contract section 13; doc/operations.md, Installation).
#
# On a clean Debian 13 (the chroot of scripts/chroot 17, or PRESENCE_PACKAGE_MAJOR's):
# a copy of this tree is built with dpkg-buildpackage into postgresql-NN-presence
# and presence-http, both are installed with apt, and on a new cluster
# CREATE EXTENSION presence works and one signed delivery through the packaged
# presence-http lands in presence.users.  The packages are purged at the end.
set -uo pipefail
# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"
major=${PRESENCE_PACKAGE_MAJOR:-17}

if [ -z "${PRESENCE_IN_CHROOT:-}" ]; then
	plan 7
	out=$(mktemp /tmp/presence-deb-part.XXXXXX)
	"$REPO_ROOT/scripts/chroot" "$major" env PRESENCE_IN_CHROOT=1 PRESENCE_PACKAGE_MAJOR="$major" \
		test/majors/debian_package.sh >"$out" 2>&1
	tap_from "$out"
	rm -f "$out"
	[ "$TEST_NO" -eq 7 ] || { echo "Bail out! the part in the chroot ran $TEST_NO of 7 checks"; exit 1; }
	exit $((FAILED > 0))
fi

# ---------- inside the chroot ----------
export PG_BIN=/usr/lib/postgresql/$major/bin
work=$(mktemp -d /tmp/presence-deb.XXXXXX)
chmod 755 "$work"
shim=
cleanup() {
	[ -n "$shim" ] && kill -TERM "$shim" 2>/dev/null && wait "$shim" 2>/dev/null
	stop_part_cluster "$work/cluster"
	DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq postgresql-"$major"-presence presence-http >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	debhelper dpkg-dev postgresql-server-dev-all libssl-dev >/dev/null 2>&1 || echo "could not install the build packages"
mkdir "$work/presence"
tar -C /src --exclude=./.git --exclude=./tmp --exclude=./.run --exclude=./.cluster -cf - . | tar -C "$work/presence" -xf -
cd "$work/presence" || exit 1
make -s clean PG_CONFIG="$PG_BIN/pg_config" >/dev/null 2>&1
pg_buildext updatecontrol >/dev/null
dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 || tail -30 "$work/build.log"
cd "$work" || exit 1
check "dpkg-buildpackage makes postgresql-$major-presence and presence-http" \
	test -f "$(ls postgresql-"$major"-presence_*.deb 2>/dev/null | head -1)" -a -f "$(ls presence-http_*.deb 2>/dev/null | head -1)"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./postgresql-"$major"-presence_*_*.deb ./presence-http_*_*.deb \
	>"$work/install.log" 2>&1 || tail -20 "$work/install.log"
check "apt installs both packages" dpkg-query -W postgresql-"$major"-presence presence-http
check "the library and the control file are where PostgreSQL $major looks" \
	test -f "$PG_BIN/../lib/presence.so" -a -f "/usr/share/postgresql/$major/extension/presence.control" \
	-a -x /usr/bin/presence-http

start_part_cluster "$work/cluster" "${PRESENCE_TEST_PORT:-54390}"
psql -qX -v ON_ERROR_STOP=1 -d postgres >/dev/null 2>&1 <<'SQL'
CREATE DATABASE presence;
\c presence
CREATE EXTENSION presence;
SELECT presence.set_secret('package-secret');
CREATE ROLE presence_http LOGIN IN ROLE presence_writer;
SQL
check "CREATE EXTENSION presence makes version 0.3.0" \
	equal "$(psql -qAtX -d presence -c "SELECT extversion FROM pg_extension WHERE extname = 'presence'")" 0.3.0

/usr/bin/presence-http --listen 127.0.0.1:0 --db "host=$PGHOST port=$PGPORT dbname=presence user=presence_http" \
	2>"$work/shim.log" &
shim=$!
port=
for _ in $(seq 1 100); do
	port=$(sed -n 's/.*listening on .*(port \([0-9][0-9]*\)).*/\1/p' "$work/shim.log")
	[ -n "$port" ] && break
	sleep 0.1
done
check "the packaged presence-http starts" test -n "$port"
sign package-secret
reply=$(curl -s -w ' %{http_code}' -X POST -H 'Content-Type: application/json' \
	"http://127.0.0.1:${port:-1}/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG" \
	-d "$(envelope pkg-1 pkg_user 0 s1)")
check "a signed delivery through it is answered 200 and applied" \
	equal "$(sed 's/.* //' <<<"$reply")/$(grep -o '"applied":[0-9]*' <<<"$reply")" '200/"applied":1'
check "and the user is online in presence.users" \
	equal "$(psql -qAtX -d presence -c "SELECT online FROM presence.users WHERE user_id = 'pkg_user'")" t
