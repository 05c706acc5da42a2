#!/bin/bash
# test/lifecycle/upgrade.sh: ALTER EXTENSION presence UPDATE from 0.1.0 keeps
# every row and ends in the same objects and the same rows as a fresh install
# fed the same deliveries (doc/rules.md section 7); and a new library under the
# old version's SQL refuses with 55000 and a hint, without crashing.
#
# Database a is created at 0.1.0 on a private cluster running the 0.1.0
# library (built from git, lib.bash) and fed part 1 of a history; the new
# library is installed and the cluster restarted; a refuses to ingest until
# ALTER EXTENSION presence UPDATE, then is fed part 2.  Database b is a fresh
# install of the new version fed parts 1 and 2 (the very same calls,
# signature triples included).  The objects compared are whatever the
# extension holds and whatever schema presence contains (describe.sql); the
# rows those of every table of schema presence, without the columns whose
# default is the time of the write (now() and its synonyms), which say when
# a row was ingested rather than what.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

private_install
old_library
[ "$OLD_LIBRARY" != none ] ||
	skip_all "the 0.1.0 library builds only on PostgreSQL 15 (here a fresh install is itself the chain from 0.1.0)"
plan 27
use_library "$WORK/old/presence.so"
start_private

write_history "$WORK/part1.sql" "$WORK/part2.sql"

# ---------- a: 0.1.0, fed by the 0.1.0 library ----------

createdb a
sql a "CREATE EXTENSION presence VERSION '0.1.0'"
feed a "$WORK/part1.sql" "$WORK/a.log"
is "$(grep -c ' 00000$' "$WORK/a.log")/$(grep -c '^d[0-9]* ' "$WORK/a.log")" "16/19" \
	"the 0.1.0 library ingests part 1 into a (19 calls, 3 refused as the history means)"
dump_rows a all "$WORK/a.before"

# ---------- the new library under 0.1.0 SQL ----------

restart_with_new() { stop_cluster "$WORK/cluster"; use_library "$NEW_SO"; start_cluster "$WORK/cluster" "$PGPORT" >/dev/null; }
restart_with_new
refusal="ERROR:  55000: the presence extension's SQL is version 0.1.0, older than its library HINT:  Run ALTER EXTENSION presence UPDATE. "
is "$(try_sql a "SELECT presence_ingest_unsigned('$(envelope e90 900 "$(item 0 zoe 900)")')")" "$refusal" \
	"under 0.1.0 SQL the new library's presence_ingest_unsigned raises 55000 with the hint"
sign "$SECRET"
is "$(try_sql a "SELECT presence_ingest('$(envelope e91 901 "$(item 0 zoe 901)")', '$NONCE', '$TS', '$SIG')")" "$refusal" \
	"presence_ingest too"
is "$(try_sql a "SELECT * FROM presence_ingest_batch(ARRAY['$(envelope e92 902 "$(item 0 zoe 902)")'], ARRAY['$NONCE'], ARRAY['$TS'], ARRAY['$SIG'])")" \
	"$refusal" "presence_ingest_batch too"
is "$(try_sql a "SELECT presence_verify('$NONCE', '$TS', '$SIG')")" "$refusal" "presence_verify too"
is "$(sql a "SELECT user_id FROM presence_parse('$(envelope e93 903 "$(item 0 zoe 903)")')")" zoe \
	"presence_parse, which touches no table, still works"
is "$(psql -X -At -d a -c 'SELECT 1' 2>&1)" 1 "the server still answers on a fresh connection"
ok "$(no_crash_in_log >/dev/null; echo $?)" "and its log has no backend terminated by a signal"
dump_rows a all "$WORK/a.refused"
same "$WORK/a.before" "$WORK/a.refused" "the refused calls changed no row"

# The same in one session: refused, updated, then working; dropped and created
# again at 0.1.0, refused again (the answer kept for the session is forgotten).
createdb c
sql c "CREATE EXTENSION presence VERSION '0.1.0'"
psql -X -q -At -v VERBOSITY=verbose -d c >"$WORK/c.out" 2>&1 <<SQL
SELECT presence_ingest_unsigned('$(envelope e94 904 "$(item 0 zoe 904)")');
ALTER EXTENSION presence UPDATE;
SELECT presence_ingest_unsigned('$(envelope e94 904 "$(item 0 zoe 904)")');
DROP EXTENSION presence;
CREATE EXTENSION presence VERSION '0.1.0';
SELECT presence_ingest_unsigned('$(envelope e94 904 "$(item 0 zoe 904)")');
SQL
is "$(grep -E '^(ERROR|\()' "$WORK/c.out" | cut -c1-14 | tr '\n' ' ')" "ERROR:  55000: (1,1,0,0,0) ERROR:  55000: " \
	"in one session: refused at 0.1.0, applied after ALTER EXTENSION UPDATE, refused after a new CREATE at 0.1.0"

# ---------- a: ALTER EXTENSION presence UPDATE, then part 2 ----------

sql a "ALTER EXTENSION presence UPDATE"
is "$(sql a "SELECT extversion FROM pg_extension WHERE extname = 'presence'")" \
	"$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$REPO_ROOT/presence.control")" \
	"ALTER EXTENSION presence UPDATE brings a to the default version"
is "$(sed -n 's/^#define PRESENCE_LIBRARY_VERSION "\(.*\)"/\1/p' "$REPO_ROOT/src/version.h")" \
	"$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$REPO_ROOT/presence.control")" \
	"the library's version (src/version.h) is presence.control's default_version"
dump_rows_like a "$WORK/a.before" "$WORK/a.updated"
same "$WORK/a.before" "$WORK/a.updated" "the update kept every row of a as it was, updated_at included"
feed a "$WORK/part2.sql" "$WORK/a.log"

# ---------- b: a fresh install of the new version, the same calls ----------

createdb b
sql b "CREATE EXTENSION presence"
feed b "$WORK/part1.sql" "$WORK/b.log"
feed b "$WORK/part2.sql" "$WORK/b.log"
same "$WORK/a.log" "$WORK/b.log" "every call of the history had the same outcome on a and b"
is "$(grep -c ' 00000$' "$WORK/b.log")/$(grep -c '^d[0-9]* ' "$WORK/b.log")" "28/33" \
	"the history is what it should be: 33 calls, 5 refused"
like "$(grep -c . "$WORK/feed.err")" '^[1-9]' "(the refused calls printed their errors)"

# ---------- (a) the same objects ----------

psql -X -d a -c '\dx+ presence' >"$WORK/a.dx"
psql -X -d b -c '\dx+ presence' >"$WORK/b.dx"
same "$WORK/a.dx" "$WORK/b.dx" '\dx+ presence lists the same objects'
like "$(grep -c . "$WORK/b.dx")" '^[0-9]{2,}$' '(and lists some)'
describe a "$WORK/a.objects"
describe b "$WORK/b.objects"
same "$WORK/a.objects" "$WORK/b.objects" \
	"the same columns, indexes, constraints, triggers, owners, privileges, functions, types and extconfig"
is "$(grep -Ec '^(comment|role comment)	.*	\(none\)$' "$WORK/a.objects")" 0 \
	"every object of the updated extension has a comment (COMMENT ON), the same as a fresh install's"
for section in column index constraint trigger function extconfig 'initial privileges' comment; do
	grep -q "^$section	" "$WORK/b.objects" || diag "describe.sql found no $section"
done
is "$(cut -f1 "$WORK/b.objects" | grep -Ec '^(column|index|constraint|trigger|function|extconfig)$' | sed 's/^[1-9][0-9]*$/some/')" some \
	"(describe.sql sees the objects it compares)"

# ---------- (b) the same rows ----------

dump_rows a content "$WORK/a.rows"
dump_rows b content "$WORK/b.rows"
same "$WORK/a.rows" "$WORK/b.rows" \
	"every table of schema presence has the same rows in a and b (columns defaulting to now() left out)"
like "$(grep -c . "$WORK/b.rows")" '^[0-9]{2,}$' "(the tables hold rows: $(grep -c . "$WORK/b.rows") lines)"
ok "$(grep -q '^== presence.users (user_id,online_sessions,online,last_online_at,last_offline_at,last_seen_at,logged_out,last_offline_logout)$' "$WORK/b.rows"; echo $?)" \
	"(users are compared without updated_at, and with every other column)"
check_rows a "$WORK/a.check"
check_rows b "$WORK/b.check"
empty "$WORK/a.check" "presence.check() is empty on the updated database"
empty "$WORK/b.check" "presence.check() is empty on the fresh one"

ok "$(no_crash_in_log >/dev/null; echo $?)" "no backend was terminated by a signal"
exit $((FAILED > 0))
