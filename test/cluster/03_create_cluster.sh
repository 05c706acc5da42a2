#!/bin/bash
# test/cluster/03_create_cluster.sh: presence_admin cannot choose the partitions' role.
#
# presence.create_cluster() runs as presence_owner and PL/Proxy uses a connection string's
# own user= and options= as they are, asking no password: a string chosen by presence_admin
# must not name the remote role, pass options or send the router's password elsewhere
# (hostaddr=).  Only host, port, dbname, sslmode, sslrootcert, connect_timeout and
# application_name are accepted; the remote role is the user mapping's.  The SQL that
# PL/Proxy runs on a partition names every operator by its schema.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 9
sql "CREATE ROLE cc_admin LOGIN IN ROLE presence_admin" >/dev/null
admin_sql() { psql -X -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -At -U cc_admin -d presence -c "$1" 2>&1; }
part() { echo "host=$CLUSTER_DIR/p$1 port=$((CLUSTER_PORT + 1 + $1)) dbname=presence$2"; }
strings() {
	local i s=""
	for ((i = 0; i < NPARTS; i++)); do s="$s${s:+,}'$(part "$i" "$1")'"; done
	echo "ARRAY[$s]"
}
sql "DROP SERVER presence_cluster CASCADE" >/dev/null 2>&1

for bad in " user=postgres" " options=-csearch_path=public" " hostaddr=127.0.0.1" \
	" password=x" " passfile=/tmp/x"; do
	out=$(admin_sql "SELECT presence.create_cluster($(strings "$bad"))")
	like "$out" "22023" "create_cluster refuses a partition string with${bad%%=*}="
	sql "DROP SERVER IF EXISTS presence_cluster CASCADE" >/dev/null 2>&1
done
out=$(admin_sql "SELECT presence.create_cluster(ARRAY['postgresql://postgres@x/presence','b'])")
like "$out" "22023" "create_cluster refuses a URI that names a user"
sql "DROP SERVER IF EXISTS presence_cluster CASCADE" >/dev/null 2>&1

is "$(admin_sql "SELECT presence.create_cluster($(strings ""))")" 4 \
	"presence_admin makes the cluster from strings of the allowed keys"
is "$(sql "SELECT pg_catalog.count(*) FROM presence.cluster_users(ARRAY['u1','u2'])")" 0 \
	"and the router reaches its partitions as the user mapping's role"

bare=$(sql "SELECT pg_catalog.string_agg(p.proname, ' ') FROM pg_catalog.pg_proc p
	JOIN pg_catalog.pg_language l ON l.oid = p.prolang
	WHERE l.lanname = 'plproxy' AND p.prosrc ~ '(\s(=|<>|<|>|<=|>=)\s)|\s(=|<>)\s*ANY'")
is "$bare" "" "the SQL run on partitions names no operator without its schema"
exit $((FAILED > 0))
