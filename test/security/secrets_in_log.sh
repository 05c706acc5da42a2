#!/usr/bin/env bash
# test/security/secrets_in_log.sh: a secret set from a server file never reaches the
# server log, even under log_statement = all and when the statement fails; a secret
# written in the statement does (which shows the check can fail).  The cluster's log
# is $PGHOST/server.log, as scripts/lib.sh's start_cluster writes it.
set -euo pipefail
log=$PGHOST/server.log
db=presence_secret_log_$$
work=$(mktemp -d /tmp/presence-secret.XXXXXX)
trap 'rm -rf "$work"; dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
chmod 755 "$work"
secret=file-secret-$RANDOM$RANDOM
inline=inline-secret-$RANDOM$RANDOM
printf '%s' "$secret" >"$work/secret"
chmod 644 "$work/secret"
createdb "$db"
psql -qX -d "$db" -c 'CREATE EXTENSION presence'
before=$(wc -c <"$log")
psql -qX -d "$db" >/dev/null 2>&1 <<SQL || true
SET log_statement = 'all';
SELECT presence.set_secret(pg_read_file('$work/secret'));
SELECT presence.set_secret(pg_read_file('$work/secret')), 1 / 0;
SELECT presence.set_secret('$inline');
SQL
sleep 0.5
new=$(tail -c +"$((before + 1))" "$log")
n=0
t() { n=$((n + 1)); if eval "$1"; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
echo "1..4"
t '[ "$(psql -qXAt -d "$db" -c "SELECT count(*) FROM presence.secrets")" -eq 2 ]' \
	"both secrets were set"
t '! grep -qF "$secret" <<<"$new"' "a secret read from a server file is not in the log"
t 'grep -qF "division by zero" <<<"$new" && grep -qF "$work/secret" <<<"$new"' \
	"the failed statement was logged, with the file's path only"
t 'grep -qF "$inline" <<<"$new"' "a secret written in the statement is in the log (so the check can fail)"
