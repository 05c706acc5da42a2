# scripts/lib.sh: shared steps of scripts/run and scripts/test.
# Sourced, not run: installs what is missing, builds, and runs a private
# PostgreSQL cluster as an unprivileged user in its own directory and port.

# The PostgreSQL major this machine's distribution ships (contract section 13):
# 15 on Debian 12, 17 on Debian 13, 18 on the suite after it; or PG_MAJOR.
distribution_major() {
	local codename candidate
	codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	case $codename in
		bookworm) echo 15; return ;;
		trixie) echo 17; return ;;
		forky) echo 18; return ;;
	esac
	# Another Debian or Ubuntu: the major of its 'postgresql' package (e.g. 16+257).
	candidate=$(apt-cache policy postgresql 2>/dev/null | sed -n 's/^ *Candidate: *\([0-9][0-9]*\)+.*/\1/p')
	echo "${candidate:-15}"
}

PG_MAJOR=${PG_MAJOR:-$(distribution_major)}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/$PG_MAJOR/bin}
PACKAGES="postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-$PG_MAJOR-pgtap
	libtap-parser-sourcehandler-pgtap-perl libmicrohttpd-dev libpq-dev libcurl4-openssl-dev pkg-config
	build-essential curl python3 python3-psycopg2 pgbouncer postgresql-$PG_MAJOR-plproxy openssl"
# The static checks and the fuzzers: clang 14's tools, as Debian 12 ships them.
LINT_PACKAGES="cppcheck clang-tidy clang libclang-rt-dev"

say() { printf '==> %s\n' "$*" >&2; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install whichever of PACKAGES is missing (Debian/Ubuntu).
ensure_packages() {
	local missing=""
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	# shellcheck disable=SC2086
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Build the extension alone (warnings are errors) and install it into PostgreSQL:
# the README's `make && make install`.
install_extension() {
	make -s PG_CONFIG="$PG_BIN/pg_config" WERROR=1 >/dev/null
	as_root make -s PG_CONFIG="$PG_BIN/pg_config" WERROR=1 install >/dev/null
}

# Build the extension and the shim (warnings are errors), and install both
# into PostgreSQL: `make && make http`, then `make install install-http`.  The
# tests' build checks every Assert() (ASSERTS=1: -DUSE_ASSERT_CHECKING), as a
# server built with --enable-cassert would; it loads into any server, since
# ExceptionalCondition() is in every build.
build_and_install() {
	say "building with PostgreSQL $PG_MAJOR, assertions checked"
	make -s PG_CONFIG="$PG_BIN/pg_config" WERROR=1 ASSERTS=1 all http >/dev/null
	as_root make -s PG_CONFIG="$PG_BIN/pg_config" WERROR=1 ASSERTS=1 install install-http >/dev/null
	remove_stale_scripts
}

# An install script this tree no longer ships (0.2.0's full script, say) would
# give CREATE EXTENSION a shorter path than the chain the tests mean to run.
remove_stale_scripts() {
	local f
	for f in "$("$PG_BIN/pg_config" --sharedir)"/extension/presence*--*.sql; do
		[ -e "$f" ] && [ ! -e "$(basename "$f")" ] && as_root rm -f "$f"
	done
	return 0
}

# The account that runs the cluster: ourselves, or 'postgres' when we are root.
cluster_user() {
	if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

as_cluster_user() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_cluster DIR PORT [SETTING...]: start the cluster in DIR/data (made on
# first use, with each SETTING, e.g. 'shared_buffers = 512MB', added to its
# configuration), socket in DIR, on PORT; point the libpq environment at it.
start_cluster() {
	local dir=$1 port=$2
	shift 2
	mkdir -p "$dir"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
	if [ -f "$dir/data/PG_VERSION" ] && [ "$(cat "$dir/data/PG_VERSION")" != "$PG_MAJOR" ]; then
		say "$dir/data holds a PostgreSQL $(cat "$dir/data/PG_VERSION") cluster, and this is $PG_MAJOR:" \
			"run with PG_MAJOR=$(cat "$dir/data/PG_VERSION"), or move it to $PG_MAJOR (doc/operations.md, Upgrading) or delete it"
		return 1
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		# shellcheck disable=SC2086	# PRESENCE_INITDB_OPTS: more initdb options (test/faults)
		as_cluster_user "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync ${PRESENCE_INITDB_OPTS:-} >/dev/null
		cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $port
unix_socket_directories = '$dir'
shared_preload_libraries = 'presence'
max_connections = 120
wal_level = logical
max_replication_slots = 4
CONF
		[ $# -eq 0 ] || printf '%s\n' "$@" >>"$dir/data/postgresql.conf"
	fi
	as_cluster_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null
	export PGHOST=$dir PGPORT=$port PGUSER=postgres
}

stop_cluster() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] &&
		as_cluster_user "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
	return 0
}
# start_router_cluster DIR PORT [NPART] [SECRET] [SETTING...]: a presence router and NPART
# (default 4) partitions on this machine (each SETTING as for start_cluster), each its own cluster: partition i in DIR/p<i> on port
# PORT+1+i, the router in DIR/router on PORT, each with database 'presence'.  The
# router reaches the partitions as the role presence_partition (a member of
# presence_router there) over their sockets.  Leaves the libpq environment on the router.
start_router_cluster() {
	local dir=$1 port=$2 nparts=${3:-4} secret=${4:-}
	local conns="" i
	shift $(($# < 4 ? $# : 4))
	for ((i = 0; i < nparts; i++)); do
		start_cluster "$dir/p$i" $((port + 1 + i)) "$@"
		if ! psql -qAtX -d presence -c 'SELECT 1' >/dev/null 2>&1; then
			createdb presence
			psql -qX -v ON_ERROR_STOP=1 -d presence >/dev/null <<SQL
SET client_min_messages = error;
CREATE EXTENSION presence;
CREATE ROLE presence_partition LOGIN IN ROLE presence_router;
SQL
		fi
		conns="$conns${conns:+,}'host=$dir/p$i port=$((port + 1 + i)) dbname=presence'"
	done
	start_cluster "$dir/router" "$port" "$@"
	if ! psql -qAtX -d presence -c 'SELECT 1' >/dev/null 2>&1; then
		createdb presence
		psql -qX -v ON_ERROR_STOP=1 -d presence >/dev/null <<SQL
SET client_min_messages = error;
CREATE EXTENSION presence;
CREATE EXTENSION presence_router CASCADE;
SELECT presence.create_cluster(ARRAY[$conns]);
SQL
		[ -z "$secret" ] || psql -qX -v ON_ERROR_STOP=1 -d presence -c "SELECT presence.set_secret('$secret')" >/dev/null
	fi
}

# stop_router_cluster DIR: stop the router and every partition started in DIR.
stop_router_cluster() {
	local d
	for d in "$1"/router "$1"/p*; do
		[ -d "$d" ] && stop_cluster "$d"
	done
	return 0
}
