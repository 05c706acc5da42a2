-- Create the extension and the helpers the other regression files use.
CREATE EXTENSION presence;

CREATE SCHEMA t;

-- Run a statement; say "ok" or its SQLSTATE and message.
CREATE FUNCTION t.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN others THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- A digest of everything ingest writes, to show that a refusal changed nothing.
CREATE FUNCTION t.snapshot() RETURNS text LANGUAGE sql AS $$
	SELECT md5(coalesce((SELECT string_agg(s::text, ',' ORDER BY s::text) FROM presence.sessions s), '')
			|| coalesce((SELECT string_agg(u::text, ',' ORDER BY u::text) FROM presence.users u), '')
			|| coalesce((SELECT string_agg(e::text, ',' ORDER BY e::text) FROM presence.events e), '')
			|| coalesce((SELECT string_agg(g::text, ',' ORDER BY g::text) FROM presence.seen_signatures g), ''))
$$;

-- An envelope around the given items.
CREATE FUNCTION t.envelope(id text, items text) RETURNS text LANGUAGE sql AS $$
	SELECT '{"type":"user:connection_status","id":"' || id || '","time":1730192400000,"data":[' || items || ']}'
$$;

-- One item: status, user, ms after 1730192400000, session (NULL: none), os.
CREATE FUNCTION t.item(status text, u text, ms bigint, sid text DEFAULT NULL, os text DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
	SELECT '{"status":"' || status || '","userId":"' || u || '","time":' || (1730192400000 + ms)
		|| coalesce(',"sessionId":"' || sid || '"', '') || coalesce(',"os":"' || os || '"', '') || '}'
$$;

-- Ingest through the unsigned path and show the outcome.
CREATE FUNCTION t.ingest(body text) RETURNS text LANGUAGE sql AS $$
	SELECT r::text FROM presence_ingest_unsigned(body) r
$$;

-- The user's sessions and row, compactly, times as ms after 1730192400000.
CREATE FUNCTION t.ms(ts timestamptz) RETURNS bigint LANGUAGE sql AS $$
	SELECT (extract(epoch FROM ts) * 1000)::bigint - 1730192400000
$$;

CREATE FUNCTION t.sessions(u text) RETURNS TABLE (session_id text, state text, os text,
	started bigint, ended bigint, last_event bigint) LANGUAGE sql AS $$
	SELECT session_id, state, os, t.ms(started_at), t.ms(ended_at), t.ms(last_event_at)
	FROM presence.sessions WHERE user_id = u ORDER BY session_id
$$;

CREATE FUNCTION t.user_row(u text) RETURNS TABLE (online_sessions int, online boolean,
	last_online bigint, last_offline bigint, last_seen bigint, logged_out boolean) LANGUAGE sql AS $$
	SELECT online_sessions, online, t.ms(last_online_at), t.ms(last_offline_at),
		t.ms(last_seen_at), logged_out
	FROM presence.users WHERE user_id = u
$$;

SELECT extname, extversion FROM pg_extension WHERE extname = 'presence';
