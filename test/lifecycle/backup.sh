#!/bin/bash
# test/lifecycle/backup.sh: pg_dump carries all of the extension's data, and a
# restore into an empty database gives the same rows, an empty
# presence.check() and ingest that goes on as before (doc/rules.md section 7).
#
# Restored three ways: a plain dump through psql, a custom dump through
# pg_restore -j 2, and the custom dump of a database created at 0.1.0 (fed
# by the 0.1.0 library, see lib.bash), updated, and fed again.  Here every
# column is compared, updated_at and received_at included: a restore copies
# rows, it does not ingest them again.  A dump without the secrets' data
# restores too, and refuses signed deliveries (55000) until a secret is set.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

plan 41

private_install
old_library
[ "$OLD_LIBRARY" = none ] || use_library "$OLD_LIBRARY"
start_private
write_history "$WORK/part1.sql" "$WORK/part2.sql"

# u: created at 0.1.0 and fed by the 0.1.0 library, then the new library,
# ALTER EXTENSION presence UPDATE and part 2.  Where the 0.1.0 library does
# not build (after PostgreSQL 15), u is updated before it is fed at all.
createdb u
sql u "CREATE EXTENSION presence VERSION '0.1.0'"
if [ "$OLD_LIBRARY" = none ]; then
	sql u "ALTER EXTENSION presence UPDATE"
	feed u "$WORK/part1.sql" "$WORK/u.log"
else
	feed u "$WORK/part1.sql" "$WORK/u.log"
	stop_cluster "$WORK/cluster"
	use_library "$NEW_SO"
	start_cluster "$WORK/cluster" "$PGPORT" >/dev/null
	sql u "ALTER EXTENSION presence UPDATE"
fi
feed u "$WORK/part2.sql" "$WORK/u.log"

# s: a fresh install fed the whole history.
createdb s
sql s "CREATE EXTENSION presence"
feed s "$WORK/part1.sql" "$WORK/s.log"
feed s "$WORK/part2.sql" "$WORK/s.log"
is "$(sql s "SELECT count(*) FROM presence.seen_signatures")/$(sql s "SELECT count(DISTINCT app_key) FROM presence.secrets")" 8/2 \
	"the source remembers signature triples and has secrets with and without an app key"

# ---------- dump, restore ----------

dump_rows s all "$WORK/s.rows"
dump_rows u all "$WORK/u.rows"
describe s "$WORK/s.objects"
describe u "$WORK/u.objects"

createdb plain
pg_dump s >"$WORK/s.sql"
ok "$(psql -X -q -v ON_ERROR_STOP=1 -d plain -f "$WORK/s.sql" 2>"$WORK/plain.out" >/dev/null; echo $?)" \
	"a plain pg_dump restores with psql -v ON_ERROR_STOP=1"
createdb custom
pg_dump -Fc -f "$WORK/s.dump" s
ok "$(pg_restore -j 2 -e -d custom "$WORK/s.dump" >"$WORK/custom.out" 2>&1; echo $?)" \
	"a custom pg_dump restores with pg_restore -j 2 -e"
createdb upgraded
pg_dump -Fc -f "$WORK/u.dump" u
ok "$(pg_restore -j 2 -e -d upgraded "$WORK/u.dump" >"$WORK/upgraded.out" 2>&1; echo $?)" \
	"the dump of a database updated from 0.1.0 restores with pg_restore -j 2 -e"
createdb nosecrets
pg_dump --exclude-table-data=presence.secrets s >"$WORK/nosecrets.sql"
ok "$(psql -X -q -v ON_ERROR_STOP=1 -d nosecrets -f "$WORK/nosecrets.sql" 2>"$WORK/nosecrets.out" >/dev/null; echo $?)" \
	"a dump with --exclude-table-data=presence.secrets restores"
for f in plain custom upgraded nosecrets; do
	if [ -s "$WORK/$f.out" ]; then diag "$f restore said:"; sed 's/^/#   /' "$WORK/$f.out" | head -20; fi
done
ok "$(grep -q "$ROTATED_SECRET" "$WORK/s.sql"; echo $?)" "(a plain dump holds the secrets in plain text, as doc/operations.md warns)"
ok "$(grep -q "$ROTATED_SECRET" "$WORK/nosecrets.sql"; echo $((1 - $?)))" \
	"(and --exclude-table-data=presence.secrets leaves them out)"

# ---------- each restored database: rows, objects, check() ----------

# restored <db> <source db>: the rows and objects of db are those of the source
restored() {
	local db=$1 src=$2
	dump_rows "$db" all "$WORK/$db.rows"
	same "$WORK/$src.rows" "$WORK/$db.rows" "$db: every row of every table of schema presence, every column"
	describe "$db" "$WORK/$db.objects"
	same "$WORK/$src.objects" "$WORK/$db.objects" "$db: the same objects, privileges and extconfig as its source"
	check_rows "$db" "$WORK/$db.check"
	empty "$WORK/$db.check" "$db: presence.check() is empty"
}
restored plain s
restored custom s
restored upgraded u
like "$(grep -c . "$WORK/s.rows")" '^[0-9]{2,}$' "(the source's tables hold rows: $(grep -c . "$WORK/s.rows") lines)"
ok "$(grep -q '^== presence.users (.*updated_at' "$WORK/s.rows" && grep -q '^== presence.events (.*received_at' "$WORK/s.rows"; echo $?)" \
	"(updated_at and received_at are compared)"

# The dump without the secrets' data: no secret, every other row.
is "$(sql nosecrets "SELECT count(*) FROM presence.secrets")" 0 "nosecrets: presence.secrets is empty"
dump_rows nosecrets all "$WORK/nosecrets.rows"
awk '/^== /{skip = ($2 == "presence.secrets")} !skip || /^== /' "$WORK/s.rows" >"$WORK/s.rows-nosecrets"
same "$WORK/s.rows-nosecrets" "$WORK/nosecrets.rows" "nosecrets: every other row is there"
check_rows nosecrets "$WORK/nosecrets.check"
empty "$WORK/nosecrets.check" "nosecrets: presence.check() is empty"

# ---------- each restored database: ingest goes on as before ----------

# result <db> <call>: the result row of an ingest call, or its SQLSTATE
result() { psql -X -q -At -v VERBOSITY=sqlstate -d "$1" -c "SELECT row(r.*) FROM $2 r" 2>&1 | sed 's/^ERROR: *//'; }
ingest_call() { echo "presence_ingest(\$j\$$5\$j\$, '$1', '$2', '$3', $(q "$4"))"; }

n=0
for pair in plain:s custom:s upgraded:u; do
	db=${pair%%:*} src=${pair#*:}
	n=$((n + 1))
	# A new signed delivery: applied on both, to the same rows.
	sign "$ROTATED_SECRET"
	call_new=$(ingest_call "$NONCE" "$TS" "$SIG" "" "$(envelope "new-$n" 200 "$(item 0 "new-$db" 200 "ns-$n" iOS)" "$(item 1 alice $((200 + n)) s3)")")
	got_src=$(result "$src" "$call_new")
	got_db=$(result "$db" "$call_new")
	is "$got_db" "$got_src" "$db: a new signed delivery has the same outcome as on the source"
	is "$got_db" "(2,2,0,0,0)" "$db: (it is applied)"
	is "$(sql "$db" "SELECT (to_jsonb(u) - 'updated_at')::text FROM presence.users u WHERE user_id IN ('new-$db', 'alice') ORDER BY u.user_id")" \
		"$(sql "$src" "SELECT (to_jsonb(u) - 'updated_at')::text FROM presence.users u WHERE user_id IN ('new-$db', 'alice') ORDER BY u.user_id")" \
		"$db: its users rows are those of the source (updated_at aside)"
	# An old signed delivery again: the same triple with another body is
	# refused on both, the same triple and body is a duplicate on both (in
	# this order, so that a triple the restore forgot lets the other body in).
	call_forged=$(ingest_call "${LATE_TRIPLE[0]}" "${LATE_TRIPLE[1]}" "${LATE_TRIPLE[2]}" "" "$(envelope forged 210 "$(item 0 "mallory-$n" 210)")")
	is "$(result "$db" "$call_forged")/$(result "$src" "$call_forged")" "28000/28000" \
		"$db: an old triple with another body is refused (28000), as on the source"
	call_old=$(ingest_call "${LATE_TRIPLE[@]}")
	is "$(result "$db" "$call_old")/$(result "$src" "$call_old")" "(1,0,1,0,0)/(1,0,1,0,0)" \
		"$db: an old signed delivery sent again is a duplicate, as on the source"
done
check_rows plain "$WORK/plain.check2"
check_rows upgraded "$WORK/upgraded.check2"
empty "$WORK/plain.check2" "plain: presence.check() is still empty after the new deliveries"
empty "$WORK/upgraded.check2" "upgraded: presence.check() is still empty after the new deliveries"

# nosecrets: signed deliveries are refused until a secret is set.
sign "$ROTATED_SECRET"
call_ns=$(ingest_call "$NONCE" "$TS" "$SIG" "" "$(envelope ns 220 "$(item 0 nora 220)")")
is "$(result nosecrets "$call_ns")" 55000 "nosecrets: a signed delivery is refused with 55000 (no secret)"
sql nosecrets "SELECT presence.set_secret('$ROTATED_SECRET')" >/dev/null
is "$(result nosecrets "$call_ns")" "(1,1,0,0,0)" "nosecrets: once a secret is set, it is applied"

ok "$(no_crash_in_log >/dev/null; echo $?)" "no backend was terminated by a signal"
exit $((FAILED > 0))
