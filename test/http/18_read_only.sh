#!/bin/bash
# test/http/18_read_only.sh: presence-http pointed at a server that takes no
# writes.  A primary fenced with default_transaction_read_only (the usual
# switchover step) refuses ingest with 25006 (doc/rules.md section 5), which
# presence-http answers 503 with Retry-After, never 2xx; /healthz is 503
# meanwhile; nothing is written.  Once the server takes writes again, the
# shim, which dropped the read-only connection, applies deliveries again.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 10
setup_db
sql "ALTER DATABASE $DB SET default_transaction_read_only = on" >/dev/null

start_shim
deliver "$(envelope ro-1 alice 0 s1)"
is "$CODE" 503 "a delivery to a fenced primary is 503"
like "$(header Retry-After)" '^[0-9]+$' "with Retry-After"
like "$BODY" 'read-only transaction' "and the reply says why"
get "$BASE/healthz"
is "$CODE" 503 "/healthz is 503 while the server takes no writes"
is "$(sql "SELECT count(*) FROM presence.events")" 0 "nothing was written"
like "$(sql "SHOW default_transaction_read_only")" on "(the database is fenced: new sessions are read-only)"

# The fence lifted: the shim connects afresh and the delivery goes through.
# (Each worker's connection made while fenced stays read-only until a call
# or a probe finds it so and drops it.)
psql -X -q -d postgres -c "ALTER DATABASE $DB RESET default_transaction_read_only" >/dev/null
healthy() { get "$BASE/healthz"; [ "$CODE" = 200 ]; }
ok "$(wait_until 10 healthy; echo $?)" "/healthz is 200 again once the server takes writes"
deliver "$(envelope ro-1 alice 0 s1)"
is "$CODE" 200 "the same delivery is then applied"
is "$(sql "SELECT online FROM presence.users WHERE user_id = 'alice'")" t "alice is online"
like "$(cat "$SHIM_LOG")" 'takes no writes' "the shim logged that the server took no writes"
