-- Signatures (doc/rules.md section 4): the scheme, age, rotation, app keys and the replay binding.

-- Helper: sign with a secret, the way the provider does (SHA1 from pgcrypto).
CREATE EXTENSION IF NOT EXISTS pgcrypto SCHEMA t;
CREATE FUNCTION t.sign(secret text, nonce text, ts text) RETURNS text LANGUAGE sql AS $$
	SELECT encode(t.digest(convert_to(secret || nonce || ts, 'UTF8'), 'sha1'), 'hex')
$$;
CREATE FUNCTION t.now_ms() RETURNS text LANGUAGE sql AS $$
	SELECT ((extract(epoch FROM now()) * 1000)::bigint)::text
$$;

-- No secret configured: presence_verify and presence_ingest refuse with 55000.
TRUNCATE presence.secrets;
SELECT t.try($$SELECT presence_verify('14314', '1408710653000', '30be0bbca9c9b2e27578701e9fda2358a814c88f')$$);
SELECT t.try($$SELECT presence_ingest(t.envelope('s0', t.item('0', 'sig', 1)), '14314', '1408710653000', '30be0bbca9c9b2e27578701e9fda2358a814c88f')$$);

-- The provider's test vector, with the age check off.
SELECT presence.set_secret('Y1W2MeFwwwRxa0');
SET presence.signature_max_age = 0;
SELECT presence_verify('14314', '1408710653000', '30be0bbca9c9b2e27578701e9fda2358a814c88f') AS vector;
SELECT presence_verify('14314', '1408710653000', '30BE0BBCA9C9B2E27578701E9FDA2358A814C88F') AS upper_case;
SELECT presence_verify('14315', '1408710653000', '30be0bbca9c9b2e27578701e9fda2358a814c88f') AS other_nonce;
SELECT presence_verify('14314', '1408710653001', '30be0bbca9c9b2e27578701e9fda2358a814c88f') AS other_time;
SELECT presence_verify('14314', '1408710653000', '30be0bbca9c9b2e27578701e9fda2358a814c88') AS short;
SELECT presence_verify('14314', '1408710653000', 'zzbe0bbca9c9b2e27578701e9fda2358a814c88f') AS not_hex;
SELECT presence_verify('14314', 'soon', '30be0bbca9c9b2e27578701e9fda2358a814c88f') AS bad_time;
SELECT presence_verify(NULL, '1408710653000', '30be0bbca9c9b2e27578701e9fda2358a814c88f') AS no_nonce;
-- With the age check on, the 2014 vector is far too old.
RESET presence.signature_max_age;
SELECT presence_verify('14314', '1408710653000', '30be0bbca9c9b2e27578701e9fda2358a814c88f') AS too_old;

-- A fresh signature passes; one from 10 minutes ago or ahead does not.
SELECT presence_verify('n1', t.now_ms(), t.sign('Y1W2MeFwwwRxa0', 'n1', t.now_ms())) AS fresh;
SELECT presence_verify('n1', (t.now_ms()::bigint - 600000)::text,
	t.sign('Y1W2MeFwwwRxa0', 'n1', (t.now_ms()::bigint - 600000)::text)) AS ten_minutes_old;
SELECT presence_verify('n1', (t.now_ms()::bigint + 600000)::text,
	t.sign('Y1W2MeFwwwRxa0', 'n1', (t.now_ms()::bigint + 600000)::text)) AS ten_minutes_ahead;

-- Rotation: two active secrets, either passes; a dropped one no longer does.
SELECT presence.set_secret('new-secret');
SELECT presence_verify('n2', t.now_ms(), t.sign('new-secret', 'n2', t.now_ms())) AS new_secret;
SELECT presence_verify('n2', t.now_ms(), t.sign('Y1W2MeFwwwRxa0', 'n2', t.now_ms())) AS old_secret;
SELECT presence.drop_secret('Y1W2MeFwwwRxa0');
SELECT presence_verify('n2', t.now_ms(), t.sign('Y1W2MeFwwwRxa0', 'n2', t.now_ms())) AS dropped_secret;

-- App keys: a secret set for an app key serves only deliveries that carry that key.
SELECT presence.set_secret('app-b-secret', 'appB');
SELECT presence_verify('n3', t.now_ms(), t.sign('app-b-secret', 'n3', t.now_ms()), 'appB') AS app_b;
SELECT presence_verify('n3', t.now_ms(), t.sign('app-b-secret', 'n3', t.now_ms()), 'appC') AS app_c;
SELECT presence_verify('n3', t.now_ms(), t.sign('app-b-secret', 'n3', t.now_ms())) AS no_app_key;
-- ... while the '' secret serves every app key.
SELECT presence_verify('n3', t.now_ms(), t.sign('new-secret', 'n3', t.now_ms()), 'appB') AS any_app;

-- presence_ingest: missing values are 28000, and change nothing.
SELECT t.snapshot() AS before \gset
SELECT t.try($$SELECT presence_ingest(t.envelope('s1', t.item('0', 'sig', 1)), NULL, NULL, NULL)$$);
SELECT t.try($$SELECT presence_ingest(t.envelope('s1', t.item('0', 'sig', 1)), '', t.now_ms(), 'ab')$$);
SELECT t.try($$SELECT presence_ingest(t.envelope('s1', t.item('0', 'sig', 1)), 'n4', t.now_ms(), '')$$);
-- A wrong signature: 28000, nothing changes.
SELECT t.try($$SELECT presence_ingest(t.envelope('s1', t.item('0', 'sig', 1)), 'n4', t.now_ms(), t.sign('wrong', 'n4', t.now_ms()))$$);
-- A too old one: 28000, nothing changes.
SELECT t.try($$SELECT presence_ingest(t.envelope('s1', t.item('0', 'sig', 1)), 'n4', '1408710653000', t.sign('new-secret', 'n4', '1408710653000'))$$);
-- A good signature on a bad body: the body's error, and the triple is not remembered.
SELECT t.try($$SELECT presence_ingest('{"status":"9"}', 'n4', t.now_ms(), t.sign('new-secret', 'n4', t.now_ms()))$$);
SELECT t.snapshot() = :'before' AS unchanged;

-- The replay binding: a triple is accepted with one body only.
SET presence.signature_max_age = 0;
SELECT * FROM presence_ingest(t.envelope('s2', t.item('0', 'sig', 1)), 'n5', '1730192400000',
	t.sign('new-secret', 'n5', '1730192400000'));
-- The same triple and body again (a retry): passes, and is a duplicate.
SELECT * FROM presence_ingest(t.envelope('s2', t.item('0', 'sig', 1)), 'n5', '1730192400000',
	t.sign('new-secret', 'n5', '1730192400000'));
-- Upper-case hex is the same triple.
SELECT * FROM presence_ingest(t.envelope('s2', t.item('0', 'sig', 1)), 'n5', '1730192400000',
	upper(t.sign('new-secret', 'n5', '1730192400000')));
-- The same triple with another body: 28000, and nothing changes.
SELECT t.snapshot() AS before \gset
SELECT t.try($$SELECT presence_ingest(t.envelope('s3', t.item('2', 'sig', 2)), 'n5', '1730192400000', t.sign('new-secret', 'n5', '1730192400000'))$$);
SELECT t.snapshot() = :'before' AS unchanged;
SELECT * FROM t.user_row('sig');

-- The batch entry point: one outcome per delivery, the bad ones refused alone.
SELECT ord, items, applied, duplicates, stale, ignored, sqlstate, message
FROM presence_ingest_batch(
	ARRAY[t.envelope('b1', t.item('0', 'bat', 1)), '{oops', t.envelope('b3', t.item('1', 'bat', 2)),
		  t.envelope('s9', t.item('1', 'sig', 9)), NULL, t.envelope('b6', t.item('0', 'cow', 1))],
	ARRAY['m1', 'm2', 'm3', 'n5', 'm5', 'm6'],
	ARRAY['1730192400000', '1730192400000', '1730192400000', '1730192400000', '1730192400000', '1730192400000'],
	ARRAY[t.sign('new-secret', 'm1', '1730192400000'), t.sign('new-secret', 'm2', '1730192400000'),
		  t.sign('new-secret', 'm3', '1730192400000'), t.sign('new-secret', 'n5', '1730192400000'),
		  t.sign('new-secret', 'm5', '1730192400000'), 'bad']);
SELECT * FROM t.sessions('bat');
SELECT count(*) AS cow_rows FROM presence.users WHERE user_id = 'cow';
-- One new triple three times in one call: the first delivery binds it, a
-- retry of the same body passes, another body is refused.
SELECT ord, items, applied, duplicates, sqlstate, message
FROM presence_ingest_batch(
	ARRAY[t.envelope('t1', t.item('0', 'twice', 1)), t.envelope('t2', t.item('2', 'twice', 2)),
		  t.envelope('t1', t.item('0', 'twice', 1))],
	ARRAY['k1', 'k1', 'k1'],
	ARRAY['1730192400000', '1730192400000', '1730192400000'],
	ARRAY[t.sign('new-secret', 'k1', '1730192400000'), t.sign('new-secret', 'k1', '1730192400000'),
		  upper(t.sign('new-secret', 'k1', '1730192400000'))]);
SELECT * FROM t.user_row('twice');
SELECT t.try($$SELECT * FROM presence_ingest_batch(ARRAY['a', 'b'], ARRAY['n'], ARRAY['1', '2'], ARRAY['x', 'y'])$$);
RESET presence.signature_max_age;

-- Triples too old to pass the age check can be forgotten.
SELECT presence.forget_signatures('1 hour') > 0 AS forgot;
SELECT count(*) FROM presence.seen_signatures;

SELECT * FROM presence.check();
