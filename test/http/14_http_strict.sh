#!/bin/bash
# test/http/14_http_strict.sh: requests whose framing is ambiguous are
# refused: two Content-Length headers that disagree (which one frames the
# body?) and an HTTP/1.1 request without Host are 400; the ordinary forms of
# both are still served.  Raw requests by tools/rawhttp.py.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
RAW=$(cd "$(dirname "$0")" && pwd)/tools/rawhttp.py

plan 7
setup_db
start_shim --workers 1

raw() { python3 "$RAW" "$SHIM_PORT" "$1"; }
sign
q="nonce=$NONCE&signTimestamp=$TS&signature=$SIG"
body=$(envelope ev-1 alice 0 s1)
len=${#body}

is "$(raw "POST /webhook?$q HTTP/1.1
Host: t
Content-Length: $len
Content-Length: 5

$body")" 400 "two different Content-Length headers: 400"
is "$(raw "POST /webhook?$q HTTP/1.1
Host: t
Content-Length: 5
Content-Length: $len

$body")" 400 "in either order"
is "$(sql "SELECT count(*) FROM presence.users")" 0 "neither was applied"
is "$(raw "GET /healthz HTTP/1.1

")" 400 "HTTP/1.1 without Host: 400"
is "$(raw "GET /healthz HTTP/1.1
Host: t

")" 200 "HTTP/1.1 with Host: 200"
is "$(raw "GET /healthz HTTP/1.0

")" 200 "HTTP/1.0 without Host: 200"
is "$(raw "POST /webhook?$q HTTP/1.1
Host: t
Content-Length: $len

$body")" 200 "a delivery with one Content-Length: 200"
