-- pgTAP: the live feed's channel and secret are the superuser's (doc/feed.md; issue 26, point 4).
--
-- Any role that can connect can LISTEN and pg_notify() on any channel, so the channel is a
-- superuser's choice, hidden from other roles, and the key of the feed's signature is shown to
-- no one: SHOW prints only whether it is set, pg_settings lists neither value, and only
-- presence_admin reads the key, through presence.feed_secret().
BEGIN;
SELECT plan(22);

CREATE ROLE fs_nobody LOGIN;
CREATE ROLE fs_reader LOGIN IN ROLE presence_reader;
CREATE ROLE fs_admin LOGIN IN ROLE presence_admin;
CREATE ROLE fs_monitor LOGIN IN ROLE pg_monitor;

SELECT is(current_setting('presence.feed_channel'), 'presence', 'the channel is presence by default');
SELECT is(presence.feed_channel(), 'presence', 'feed_channel() names it');
SELECT is(presence.feed_channel('rooms'), 'presence_rooms', 'and the rooms channel: presence_rooms');
SELECT throws_ok($$SELECT presence.feed_channel('chats')$$, '22023', 'unknown feed stream "chats"',
	'feed_channel() refuses an unknown stream');

SELECT throws_ok($$SET presence.feed_channel = 'Presence'$$, '22023', NULL,
	'an upper-case channel is refused (LISTEN Presence would listen on presence)');
SELECT throws_ok($$SET presence.feed_channel = '1feed'$$, '22023', NULL,
	'a channel starting with a digit is refused');
SELECT throws_ok($$SET presence.feed_channel = 'a b'$$, '22023', NULL, 'a channel with a space is refused');
SELECT throws_ok($$SET presence.feed_channel = ''$$, '22023', NULL, 'an empty channel is refused');
SELECT throws_ok(pg_catalog.format('SET presence.feed_channel = %s', repeat('c', 58)), '22023', NULL,
	'a channel of 58 bytes is refused (its rooms channel would pass 63)');
SET presence.feed_channel = 'app_feed_1';
SELECT is(presence.feed_channel('rooms'), 'app_feed_1_rooms', 'the rooms channel follows the setting');

SET presence.feed_secret = 'the-feed-key';
SELECT is(current_setting('presence.feed_secret'), '(set)', 'SHOW prints that the secret is set, not the secret');
SELECT is((SELECT count(*)::int FROM pg_settings WHERE name = 'presence.feed_secret'), 0,
	'pg_settings does not list the secret');
SELECT is(presence.feed_secret(), 'the-feed-key', 'the superuser reads it with feed_secret()');

SET ROLE fs_nobody;
SELECT throws_ok($$SET presence.feed_channel = 'mine'$$, '42501', NULL, 'PUBLIC cannot set the channel');
SELECT throws_ok($$SHOW presence.feed_channel$$, '42501', NULL, 'PUBLIC cannot see the channel');
SELECT throws_ok($$SET presence.feed_secret = 'mine'$$, '42501', NULL, 'PUBLIC cannot set the secret');
SELECT throws_ok($$SHOW presence.feed_secret$$, '42501', NULL, 'PUBLIC cannot see the secret');
SELECT throws_ok($$SELECT presence.feed_secret()$$, '42501', NULL, 'PUBLIC cannot call feed_secret()');
RESET ROLE;

SET ROLE fs_monitor;
SELECT is(current_setting('presence.feed_secret'), '(set)', 'pg_monitor (pg_read_all_settings) sees only that it is set');
RESET ROLE;

SET ROLE fs_reader;
SELECT is(presence.feed_channel(), 'app_feed_1', 'a reader learns the channel from feed_channel()');
SELECT throws_ok($$SELECT presence.feed_secret()$$, '42501', NULL, 'a reader cannot read the secret');
RESET ROLE;

SET ROLE fs_admin;
SELECT is(presence.feed_secret(), 'the-feed-key', 'presence_admin reads the secret with feed_secret()');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
