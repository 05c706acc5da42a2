# test/cluster/lib.bash: a router and four partitions for the scale-out tests (doc/rules.md section 12).
#
# Sourced by test/cluster/*.sh (its name keeps it out of "prove test/cluster/*.sh").  Reuses
# the TAP, shim and signing helpers of test/http/lib.bash and start_router_cluster of
# scripts/lib.sh: partitions in $WORK/cluster/p0..p3 on ports PRESENCE_CLUSTER_PORT+1..+4,
# the router in $WORK/cluster/router on PRESENCE_CLUSTER_PORT (default 54400), each its own
# cluster, with the database 'presence'.  The libpq environment is left on the router.
# shellcheck disable=SC2034

# shellcheck source=../http/lib.bash
. "$(dirname "$0")/../http/lib.bash"
# shellcheck source=../../scripts/lib.sh
. "$REPO_ROOT/scripts/lib.sh"

chmod 755 "$WORK"
CLUSTER_DIR=$WORK/cluster
CLUSTER_PORT=${PRESENCE_CLUSTER_PORT:-54400}
NPARTS=4
DB=presence
cleanup() {
	stop_shim
	local p
	for p in $(jobs -p); do kill "$p" 2>/dev/null; done
	stop_router_cluster "$CLUSTER_DIR"
	if [ "${KEEP_WORK:-}" = "" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
start_router_cluster "$CLUSTER_DIR" "$CLUSTER_PORT" "$NPARTS" "$SECRET" ||
	bail "the router cluster did not start"
export PGDATABASE=presence
PRESENCE_ROUTER="host=$CLUSTER_DIR/router port=$CLUSTER_PORT dbname=presence user=postgres"
PRESENCE_PARTITIONS=""
for ((i = 0; i < NPARTS; i++)); do
	PRESENCE_PARTITIONS="$PRESENCE_PARTITIONS${PRESENCE_PARTITIONS:+|}host=$CLUSTER_DIR/p$i port=$((CLUSTER_PORT + 1 + i)) dbname=presence user=postgres"
done
export PRESENCE_ROUTER PRESENCE_PARTITIONS

# part_sql <partition> <sql>: run SQL on a partition's database
part_sql() {
	psql -X -q -v ON_ERROR_STOP=1 -At -h "$CLUSTER_DIR/p$1" -p $((CLUSTER_PORT + 1 + $1)) -d presence -c "$2"
}

# stop_partition <n> / start_partition <n>
stop_partition() { stop_cluster "$CLUSTER_DIR/p$1"; }
start_partition() {
	as_cluster_user "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/p$1/data" -l "$CLUSTER_DIR/p$1/server.log" -w start >/dev/null
}

# users_on <partition> <count> <prefix>: that many user ids the router places on the partition
users_on() {
	sql "SELECT string_agg(u, ' ') FROM (SELECT '$3' || g AS u FROM generate_series(1, 1000) g
		 WHERE presence.partition_of('$3' || g, $NPARTS) = $1 ORDER BY g LIMIT $2) s"
}
