#!/bin/bash
# test/cluster/04_partition_timeout.sh: a stalled partition cannot hold a call past presence-http's deadline.
#
# PL/Proxy waits for a partition's answer as long as the partition takes; a partition
# that stalls (a lock, a full disk, a network that drops packets) held whole batches of
# presence-http past its --db-timeout (4 s by default).  Every partition call now runs
# under statement_timeout 3 s on the partition (and PL/Proxy's query_timeout
# 3 s), and fails with 57014 or 08006 (which presence-http answers with 503).

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 3
holder=$(users_on 0 1 stall)
sql "SELECT presence_ingest_unsigned('{\"status\":\"0\",\"userId\":\"$holder\",\"sessionId\":\"s\",\"time\":1000}')" >/dev/null
p0() { psql -X -q -At -h "$CLUSTER_DIR/p0" -p $((CLUSTER_PORT + 1)) -d presence -c "$1"; }
p0 "BEGIN; SELECT 1 FROM presence.users WHERE user_id = '$holder' FOR UPDATE; SELECT pg_sleep(300); COMMIT;" \
	>/dev/null 2>&1 &
locker=$!
for _ in $(seq 1 300); do
	[ "$(p0 "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")" = 1 ] && break
	sleep 0.1
done
start=$(date +%s%N)
out=$(psql -X -q -At -v VERBOSITY=verbose -d presence \
	-c "SELECT applied FROM presence_ingest_unsigned('{\"status\":\"1\",\"userId\":\"$holder\",\"sessionId\":\"s\",\"time\":2000}')" 2>&1)
secs=$(( ($(date +%s%N) - start) / 1000000 ))
diag "the call on the stalled partition ended after ${secs} ms: $(printf '%s' "$out" | head -1)"
# The lock is held for 300 s: a call that ended while it is still held was
# ended by the partition's statement_timeout, not by the lock going away.
check "a call to a stalled partition ends while the partition is still stalled" kill -0 "$locker"
# The partition's statement_timeout (57014) and PL/Proxy's query_timeout
# (08006, "query timeout") are both 3 s: on a busy machine either ends the
# call first, and presence-http answers both with 503.
like "$out" "57014|query timeout" "as a statement timeout (57014) or PL/Proxy's query timeout (08006)"
p0 "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'" >/dev/null
wait "$locker"
is "$(sql "SELECT applied FROM presence_ingest_unsigned('{\"status\":\"1\",\"userId\":\"$holder\",\"sessionId\":\"s\",\"time\":2000}')")" 1 \
	"once the partition answers again the re-delivery is applied"
exit $((FAILED > 0))
