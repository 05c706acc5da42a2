#!/bin/bash
# test/faults/06_logical.sh: the presence tables published to a logical
# subscriber, as doc/operations.md ("Failover and replication") gives it.
# Four senders deliver through presence-http to the publisher before, during
# and after the subscription's initial copy.  Once the subscriber has caught
# up (every table 'r' in pg_subscription_rel and the slot's confirmed_flush_lsn
# past the publisher's WAL position after the load), its presence.check() is
# empty and its tables equal the publisher's, every column; the history
# functions answer there as on the publisher.  Then the pitfall the docs
# warn about: with the triggers ENABLE ALWAYS on the subscriber, a
# replicated delivery is counted twice.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 10
node pub 6
setup_db
start_shim --workers 4 --db-timeout 8
senders "the senders are acknowledged by the publisher"
sleep 3

node sub 7
createdb "$DB"
sql "CREATE EXTENSION presence" >/dev/null
q pub "CREATE PUBLICATION presence_pub FOR TABLE presence.users, presence.sessions, presence.events,
	presence.folded_sessions, presence.folded_users, presence.retention_state, presence.daily,
	presence.rooms, presence.room_members, presence.room_events" >/dev/null
ok $? "CREATE PUBLICATION on the publisher"
q sub "CREATE SUBSCRIPTION presence_sub CONNECTION 'host=$WORK/pub port=$(port_of pub) dbname=$DB user=postgres'
	PUBLICATION presence_pub" >/dev/null 2>&1
ok $? "CREATE SUBSCRIPTION on the subscriber"
during=0
for _ in 1 2 3 4 5 6; do
	n=$(q sub "SELECT count(*) FROM presence.check()" 2>/dev/null) && [ "${n:-0}" -gt "$during" ] && during=$n
	sleep 0.5
done
diag "presence.check() on the subscriber during the initial copy: up to $during rows"
sleep 2
load_stop

# caught_up: every table synchronised, and the slot confirmed past $lsn
caught_up() {
	[ "$(q sub "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'")" = 0 ] &&
		[ "$(q pub "SELECT confirmed_flush_lsn >= '$lsn' FROM pg_replication_slots WHERE slot_name = 'presence_sub'")" = t ]
}
lsn=$(q pub "SELECT pg_current_wal_lsn()")
wait_until 120 caught_up
ok $? "the subscriber catches up"
is "$(q sub "SELECT count(*) FROM presence.check()")" 0 "presence.check() on the subscriber is empty"
rows() {
	q "$1" "SELECT md5(string_agg(u::text, ',' ORDER BY user_id)) FROM presence.users u"
	q "$1" "SELECT md5(string_agg(s::text, ',' ORDER BY user_id, session_id)) FROM presence.sessions s"
	q "$1" "SELECT md5(string_agg(e::text, ',' ORDER BY user_id, session_id, status_time, status)) FROM presence.events e"
	q "$1" "SELECT count(*) FROM presence.events"
}
is "$(rows sub)" "$(rows pub)" "its users, sessions and events equal the publisher's, every column"
u=$(q pub "SELECT user_id FROM presence.users ORDER BY user_id LIMIT 1")
hist="SELECT * FROM presence.user_history('$u', '-infinity', 'infinity')"
is "$(q sub "$hist")" "$(q pub "$hist")" "user_history() on the subscriber equals the publisher's"
acked=$(acked_count "$LOG")
is "$(missing sub "$LOG")" 0 "every delivery the publisher acknowledged ($acked) is on the subscriber"

# The pitfall: triggers that fire on the subscriber too.
q sub "ALTER TABLE presence.events ENABLE ALWAYS TRIGGER users_follow_events" >/dev/null
q sub "ALTER TABLE presence.sessions ENABLE ALWAYS TRIGGER users_follow_sessions" >/dev/null
deliver "$(envelope always-1 twice-1 0 s1)"
is "$CODE" 200 "a delivery to the publisher"
deliver "$(envelope always-2 twice-1 0 s2)"
lsn=$(q pub "SELECT pg_current_wal_lsn()")
wait_until 60 caught_up
got=$(q sub "SELECT online_sessions FROM presence.users WHERE user_id = 'twice-1'")
diag "with ENABLE ALWAYS: the publisher counts $(q pub "SELECT online_sessions FROM presence.users WHERE user_id = 'twice-1'") sessions online, the subscriber ${got:-none}; check(): $(q sub "SELECT count(*) FROM presence.check()") rows"
[ "$(q sub "SELECT count(*) FROM presence.check()")" != 0 ] || [ "$got" != 2 ]
ok $? "with the triggers ENABLE ALWAYS the subscriber counts differently (the pitfall)"
