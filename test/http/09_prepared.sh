#!/bin/bash
# test/http/09_prepared.sh: each worker prepares the group-commit call once
# per connection.  The prepared statement is really used, survives the
# function it calls being replaced (DROP and CREATE EXTENSION), and when its
# result type changes under it (an upgrade) the delivery still goes through
# the batch call, unprepared once, and the next call prepares it again.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 14
setup_db
start_shim --workers 1

batch_failures() { grep -c 'batch of .* failed' "$SHIM_LOG"; }

deliver "$(envelope ev-1 alice 0 s1)"
is "$CODE" 200 "a delivery through the prepared batch call"

# A stand-in for presence_ingest_batch() whose first column is bigint, not
# integer, and which records whether the batch statement is prepared in the
# session that calls it (the shim's single worker).
sql "CREATE TABLE public.probe (n serial, prepared boolean)"
sql "ALTER FUNCTION public.presence_ingest_batch(text[], text[], text[], text[], text[]) RENAME TO presence_ingest_batch_real"
sql "CREATE FUNCTION public.presence_ingest_batch(b text[], n text[], t text[], s text[], a text[] DEFAULT NULL)
	RETURNS TABLE (ord bigint, items integer, applied integer, duplicates integer,
	               stale integer, ignored integer, sqlstate text, message text)
	LANGUAGE plpgsql AS \$\$
BEGIN
	INSERT INTO public.probe (prepared)
		SELECT count(*) > 0 FROM pg_catalog.pg_prepared_statements WHERE name = 'presence_http_batch';
	RETURN QUERY SELECT r.ord::bigint, r.items, r.applied, r.duplicates, r.stale, r.ignored, r.sqlstate, r.message
		FROM public.presence_ingest_batch_real(b, n, t, s, a) r;
END \$\$"

deliver "$(envelope ev-2 bob 0 s1)"
is "$CODE" 200 "a delivery after the call's result type changed"
is "$BODY" '{"items":1,"applied":1,"duplicates":0,"stale":0,"ignored":0}' "and it was applied"
is "$(sql "SELECT string_agg(prepared::text, ',' ORDER BY n) FROM public.probe")" false \
	"it went through the batch call, sent unprepared after the prepared one failed"
deliver "$(envelope ev-3 carol 0 s1)"
is "$CODE" 200 "the next delivery"
is "$(sql "SELECT string_agg(prepared::text, ',' ORDER BY n) FROM public.probe")" false,true \
	"went through the batch statement prepared again"
is "$(batch_failures)" 0 "no batch fell back to one call per delivery"

# Back to the real function (the result type changes again), then the whole
# extension replaced: every function the prepared statement used is new.
sql "DROP FUNCTION public.presence_ingest_batch(text[], text[], text[], text[], text[])"
sql "ALTER FUNCTION public.presence_ingest_batch_real(text[], text[], text[], text[], text[]) RENAME TO presence_ingest_batch"
deliver "$(envelope ev-4 alice 1 s1)"
is "$CODE" 200 "a delivery after the real function is back"
sql "DROP EXTENSION presence CASCADE" 2>/dev/null
sql "CREATE EXTENSION presence"
sql "SELECT presence.set_secret('$SECRET')" >/dev/null
deliver "$(envelope ev-5 dave 0 s1)"
is "$CODE" 200 "a delivery after DROP and CREATE EXTENSION"
is "$BODY" '{"items":1,"applied":1,"duplicates":0,"stale":0,"ignored":0}' "and it was applied"
is "$(sql "SELECT state FROM presence.sessions WHERE user_id = 'dave'")" online \
	"into the new extension's tables"
is "$(batch_failures)" 0 "still no batch fell back to one call per delivery"
like "$(sql "SELECT string_agg(user_id || ':' || online, ' ' ORDER BY user_id) FROM presence.users")" '^dave:true$' \
	"the new tables hold only the new delivery"
ok "$(kill -0 "$SHIM_PID" 2>/dev/null; echo $?)" "presence-http is still running"
