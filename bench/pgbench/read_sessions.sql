-- Figure 11b: one user's online sessions.
\set u random(1, :nusers)
SELECT session_id, os, client_ip, started_at FROM presence.sessions
 WHERE user_id = 'user' || :u AND state = 'online';
