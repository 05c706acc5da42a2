-- Figure 10: the history functions over :users users and :sessions sessions kept.
-- Loaded straight into the tables (triggers off: presence.users is not read by
-- history), dated over the last 10 days: every identified session connects once
-- and, unless it is still open (5%), disconnects 5 minutes to 3 hours later; every
-- tenth user also has an anonymous session that went online four times.
-- Prints: online_at ms, user_history ms per call, online_counts ms (medians).
\set ON_ERROR_STOP 1
CREATE EXTENSION presence;
CREATE SCHEMA fig;
CREATE FUNCTION fig.elapsed_ms(q text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := clock_timestamp();
BEGIN
	EXECUTE q;
	RETURN extract(epoch FROM clock_timestamp() - t0) * 1000;
END
$$;
SET session_replication_role = replica;
CREATE TEMP TABLE g AS
	SELECT 'u' || lpad((s % :users)::text, 7, '0') AS user_id, 's' || s AS session_id,
		   now() - random() * interval '10 days' AS t0,
		   interval '5 minutes' + random() * interval '3 hours' AS dur,
		   random() < 0.05 AS open,
		   (ARRAY['iOS', 'Android', 'Websocket', 'PC'])[1 + s % 4] AS os
	  FROM generate_series(1, :sessions) s;
UPDATE g SET open = true WHERE t0 + dur > now();
INSERT INTO presence.events (user_id, session_id, status_time, status, item_no, os, outcome)
	SELECT user_id, session_id, t0, '0', 0, os, 'applied' FROM g
	UNION ALL
	SELECT user_id, session_id, t0 + dur, '1', 0, NULL, 'applied' FROM g WHERE NOT open;
INSERT INTO presence.sessions (user_id, session_id, state, os, started_at, ended_at, last_event_at)
	SELECT user_id, session_id, CASE WHEN open THEN 'online' ELSE 'offline' END, os, t0,
		   CASE WHEN NOT open THEN t0 + dur END, CASE WHEN open THEN t0 ELSE t0 + dur END
	  FROM g;
CREATE TEMP TABLE a AS
	SELECT 'u' || lpad(u::text, 7, '0') AS user_id, now() - interval '9 days' + k * interval '2 days'
			+ random() * interval '1 day' AS t0
	  FROM generate_series(0, :users - 1, 10) u, generate_series(0, 3) k;
INSERT INTO presence.events (user_id, session_id, status_time, status, item_no, os, outcome)
	SELECT user_id, '', t0, '0', 0, 'PC', 'applied' FROM a
	UNION ALL
	SELECT user_id, '', t0 + interval '1 hour', '1', 0, NULL, 'applied' FROM a;
INSERT INTO presence.sessions (user_id, session_id, state, os, started_at, ended_at, last_event_at)
	SELECT user_id, '', 'offline', 'PC', max(t0), max(t0) + interval '1 hour',
		   max(t0) + interval '1 hour'
	  FROM a GROUP BY user_id;
RESET session_replication_role;
VACUUM ANALYZE presence.events;
VACUUM ANALYZE presence.sessions;
-- Warm up, then medians.
SELECT count(*) FROM presence.online_at(now() - interval '3 days') \g /dev/null
\pset tuples_only on
\pset format unaligned
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY fig.elapsed_ms(
		format('SELECT count(*) FROM presence.online_at(%L)', now() - k * interval '1 day')))::numeric, 1)
  FROM generate_series(1, 5) k;
SELECT round((percentile_cont(0.5) WITHIN GROUP (ORDER BY fig.elapsed_ms(format(
		'SELECT count(*) FROM presence.user_history(%L, %L, %L)',
		'u' || lpad(((k * 7919) % :users)::text, 7, '0'), now() - interval '30 days', now()))))::numeric, 3)
  FROM generate_series(1, 1000) k;
SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY fig.elapsed_ms(format(
		'SELECT count(*) FROM presence.online_counts(%L, %L, %L)',
		date_trunc('day', now()) - k * interval '1 day',
		date_trunc('day', now()) - (k - 1) * interval '1 day', '1 minute')))::numeric, 1)
  FROM generate_series(2, 4) k;
