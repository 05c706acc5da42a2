#!/bin/bash
# test/cluster/04_partition_timeout.sh: a stalled partition cannot hold a call past presence-http's deadline.
#
# PL/Proxy waits for a partition's answer as long as the partition takes; a partition
# that stalls (a lock, a full disk, a network that drops packets) held whole batches of
# presence-http past its --db-timeout (4 s by default).  Every partition call now runs
# under statement_timeout 3 s on the partition, and fails with 57014 (which
# presence-http answers with 503).

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 3
holder=$(users_on 0 1 stall)
sql "SELECT presence_ingest_unsigned('{\"status\":\"0\",\"userId\":\"$holder\",\"sessionId\":\"s\",\"time\":1000}')" >/dev/null
psql -X -q -h "$CLUSTER_DIR/p0" -p $((CLUSTER_PORT + 1)) -d presence \
	-c "BEGIN; SELECT 1 FROM presence.users WHERE user_id = '$holder' FOR UPDATE; SELECT pg_sleep(10); COMMIT;" \
	>/dev/null 2>&1 &
locker=$!
sleep 0.5
start=$(date +%s%N)
out=$(psql -X -q -At -v VERBOSITY=verbose -d presence \
	-c "SELECT applied FROM presence_ingest_unsigned('{\"status\":\"1\",\"userId\":\"$holder\",\"sessionId\":\"s\",\"time\":2000}')" 2>&1)
secs=$(( ($(date +%s%N) - start) / 1000000 ))
diag "the call on the stalled partition ended after ${secs} ms: $(printf '%s' "$out" | head -1)"
check "a call to a stalled partition ends within 3.5 s" test "$secs" -lt 3500
like "$out" "57014" "as a statement timeout (57014)"
wait "$locker"
is "$(sql "SELECT applied FROM presence_ingest_unsigned('{\"status\":\"1\",\"userId\":\"$holder\",\"sessionId\":\"s\",\"time\":2000}')")" 1 \
	"once the partition answers again the re-delivery is applied"
exit $((FAILED > 0))
