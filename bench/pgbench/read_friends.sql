-- Figure 11a: which of these 200 friends are online.  The friend list stands for
-- the app's $1: one of 1,000 lists of 200 user ids (bench.friends), fetched by key.
\set k random(1, 1000)
SELECT user_id FROM presence.users
 WHERE user_id = ANY ((SELECT ids FROM bench.friends WHERE k = :k)::text[]) AND online;
