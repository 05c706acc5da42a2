#!/bin/bash
# test/http/26_notify_full.sh: a full NOTIFY queue is 503, not 413.
#
# With presence.feed = 'notify', a session idling in a transaction after LISTEN keeps the
# NOTIFY queue from being emptied until every notifying ingest fails with 54000 "too many
# notifications in the NOTIFY queue".  presence-http answered every 54000 with 413 (a body
# too large), which tells the provider never to retry: the deliveries were lost.  It is a
# passing condition of the server, so 503 with Retry-After.  The queue is not filled here
# (that takes 8 GB): a trigger raises the error the server raises.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 3
setup_db
sql "CREATE FUNCTION public.queue_full() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	RAISE EXCEPTION 'too many notifications in the NOTIFY queue' USING ERRCODE = '54000';
END \$\$;
CREATE TRIGGER queue_full BEFORE INSERT ON presence.events FOR EACH ROW EXECUTE FUNCTION public.queue_full();" >/dev/null
start_shim --workers 1
deliver "$(envelope ev-1 alice 0 s1)"
is "$CODE" 503 "a full NOTIFY queue (54000) is answered 503"
like "$HEADERS" "Retry-After" "with Retry-After"
sql "DROP TRIGGER queue_full ON presence.events" >/dev/null
head -c 2000000 /dev/zero | tr '\0' x >"$WORK/big"
sign
CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 --data-binary @"$WORK/big" \
	"$BASE/webhook?nonce=$NONCE&signTimestamp=$TS&signature=$SIG")
is "$CODE" 413 "a body over the limit is still 413"
exit $((FAILED > 0))
