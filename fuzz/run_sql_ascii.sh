#!/usr/bin/env bash
# fuzz/run_sql_ascii.sh: bodies that are not UTF-8, inside the server, as TAP
# (prove -e bash fuzz/run_sql_ascii.sh).
#
# In a UTF8 database invalid UTF-8 never reaches a text argument, so
# test/pgtap/mutation.sql cannot feed it there.  This script creates a
# SQL_ASCII database (createdb -E SQL_ASCII -T template0), loads presence and
# pgtap, feeds a few bodies with raw bytes written as E'\xff' literals, then
# runs test/pgtap/mutation.sql in that database, where its mutator also inserts
# bytes that are not UTF-8 (chr(128..255) are single bytes there).  Same rules
# as in UTF8: the backend survives, rejections are class 22 or 54000, both
# entry points agree, accepted values equal what jsonb reads, presence.check()
# is empty.  The database is dropped at the end.
#
# Connects like psql (PGHOST, PGPORT, PGUSER; a superuser).  SQL_ASCII_BODIES
# sets the number of mutants (default 30000).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=presence_sql_ascii_$$
bodies=${SQL_ASCII_BODIES:-30000}
n=0
failed=0

tap() {	# tap PASS DESCRIPTION [DETAIL]
	n=$((n + 1))
	if [ "$1" = t ]; then
		echo "ok $n - $2"
	else
		failed=$((failed + 1))
		echo "not ok $n - $2"
		[ -n "${3:-}" ] && printf '%s\n' "$3" | sed 's/^/# /'
	fi
}

echo "1..10"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1' EXIT
if ! out=$(createdb -E SQL_ASCII --locale=C -T template0 "$db" 2>&1 &&
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'CREATE EXTENSION presence' -c 'CREATE EXTENSION pgtap' 2>&1); then
	echo "Bail out! could not create a SQL_ASCII database with presence and pgtap: $out"
	exit 1
fi
tap t "SQL_ASCII database $db with presence and pgtap"

# Raw bytes as E'\x..' literals.  Each row: pass, description, detail.
results=$(psql -X -q -At -F '|' -v ON_ERROR_STOP=1 -d "$db" 2>&1 <<'SQL'
BEGIN;
-- parse=<SQLSTATE or hex of the user ids> ingest=<SQLSTATE or items>
CREATE FUNCTION pg_temp.outcome(b text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	p text;
	i text;
BEGIN
	BEGIN
		SELECT 'ok:' || coalesce(string_agg(encode(convert_to(user_id, 'SQL_ASCII'), 'hex'), ','), '')
		  INTO p FROM presence_parse(b);
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS p = RETURNED_SQLSTATE;
	END;
	BEGIN
		i := 'ok:' || (presence_ingest_unsigned(b)).items;
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS i = RETURNED_SQLSTATE;
	END;
	RETURN format('parse=%s ingest=%s', p, i);
END
$$;
SELECT o = 'parse=ok:fffe ingest=ok:1', 'a userId of the bytes FF FE is accepted byte for byte', o
  FROM pg_temp.outcome(E'{"status":"0","userId":"\xff\xfe","time":1730192400000}') o;
SELECT o = 'parse=ok:75e794 ingest=ok:1', 'a userId cut inside a UTF-8 sequence (75 E7 94) is kept as those bytes', o
  FROM pg_temp.outcome(E'{"status":"0","userId":"u\xe7\x94","time":1730192400000}') o;
SELECT o = 'parse=22P02 ingest=22P02', 'a body ending in a lone lead byte after a backslash is 22P02 from both', o
  FROM pg_temp.outcome(E'{"status":"0","userId":"u","time":1,"x":"\\\xf0') o;
SELECT o = 'parse=22P02 ingest=22P02', 'a byte F0 after "\" in a string is 22P02 from both', o
  FROM pg_temp.outcome(E'{"status":"0","userId":"u","time":1,"x":"\\\xf0"}') o;
SELECT o = 'parse=22P02 ingest=22P02', 'overlong and surrogate UTF-8 outside strings is 22P02 from both', o
  FROM pg_temp.outcome(E'{"status":"0","userId":"u","time":1,"x":\xc0\x80\xed\xa0\x80}') o;
SELECT o ~ '^parse=22... ingest=22...$', 'a \u00e9 escape is rejected with a class 22 SQLSTATE', o
  FROM pg_temp.outcome('{"status":"0","userId":"\u00e9","time":1730192400000}') o;
SELECT count(*) = 0, 'presence.check() is empty after the raw-byte bodies',
	   string_agg(format('%s/%s %s: %s <> %s', user_id, session_id, field, stored, expected), E'\n')
  FROM presence.check();
ROLLBACK;
SQL
)
if [ $? -ne 0 ]; then
	echo "Bail out! the raw-byte checks failed to run:"
	printf '%s\n' "$results" | sed 's/^/# /'
	exit 1
fi
while IFS='|' read -r pass desc detail; do
	case $desc in
		*"# TODO"*) n=$((n + 1)); [ "$pass" = t ] && echo "ok $n - $desc" || { echo "not ok $n - $desc"; echo "# got: $detail"; } ;;
		*) tap "$pass" "$desc" "got: $detail" ;;
	esac
done <<<"$results"

# The mutation test, in this database.
start=$(date +%s)
out=$(PGOPTIONS="${PGOPTIONS:-} -c presence_test.mutation_bodies=$bodies" \
	pg_prove -v -d "$db" "$here/../test/pgtap/mutation.sql" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -E '^#|not ok' | sed 's/^/# /'
tap "$([ $rc -eq 0 ] && echo t || echo f)" \
	"test/pgtap/mutation.sql passes in SQL_ASCII with $bodies mutants ($(($(date +%s) - start))s)" \
	"$(printf '%s\n' "$out" | tail -15)"
notutf8=$(printf '%s\n' "$out" | sed -n 's/^# \([0-9]*\) accepted bodies hold bytes that are not UTF-8.*/\1/p')
tap "$([ "${notutf8:-0}" -gt 0 ] && echo t || echo f)" \
	"the mutants reached acceptance with bytes that are not UTF-8 (${notutf8:-0} bodies)"
exit "$failed"
