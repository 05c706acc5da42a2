#!/usr/bin/env bash
# test/security/schema_warning.sh: CREATE EXTENSION warns when the target schema lets
# every role create objects in it (an overload could capture deliveries), and is
# silent otherwise.
set -euo pipefail
db=presence_schema_warn_$$
trap 'dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
n=0
t() { n=$((n + 1)); if eval "$1"; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
echo "1..2"
createdb "$db"
quiet=$(psql -qX -d "$db" -c 'CREATE EXTENSION presence' 2>&1)
t '! grep -q WARNING <<<"$quiet"' "no warning where only the owner may create in the schema"
psql -qX -d "$db" -c 'DROP EXTENSION presence' -c 'GRANT CREATE ON SCHEMA public TO PUBLIC'
loud=$(psql -qX -d "$db" -c 'CREATE EXTENSION presence' 2>&1)
t 'grep -q "WARNING:  schema public lets every role create objects in it" <<<"$loud"' \
	"a warning where PUBLIC may create in the schema"
