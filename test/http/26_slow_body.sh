#!/bin/bash
# test/http/26_slow_body.sh: a body sent a byte at a time does not hold a connection for ever.
#
# --timeout bounded the wait for a request's headers, and libmicrohttpd's own timeout is
# one of inactivity: a client that sent its headers and then a body byte every half
# second kept its connection slot as long as it liked, and enough of them held every
# slot.  The whole request, body included, must now arrive within --timeout.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
plan 3
setup_db
start_shim --workers 1 --timeout 2
sign
q="nonce=$NONCE&signTimestamp=$TS&signature=$SIG"

# Headers at once, then one body byte every 0.4 s; print after how many seconds the
# server closed the connection (or "open" after 12 s).
out=$(python3 - "$SHIM_PORT" "$q" <<'PY'
import socket, sys, time
port, q = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=12)
s.sendall(b"POST /webhook?" + q.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n")
start = time.monotonic()
s.settimeout(0.4)
for i in range(30):
    try:
        s.sendall(b" ")
        if s.recv(4096) == b"":
            break
    except socket.timeout:
        continue
    except OSError:
        break
else:
    print("open")
    sys.exit(0)
print("%.1f" % (time.monotonic() - start))
PY
)
diag "the slow body's connection ended after: $out"
check "a body trickling in is cut off" test "$out" != open
check "within --timeout and a sweep (under 4 s)" awk -v t="$out" 'BEGIN { exit !(t ~ /^[0-9.]+$/ && t + 0 < 4) }'
deliver "$(envelope ev-1 quick 0 s1)"
is "$CODE" 200 "a delivery sent at once is still served"
exit $((FAILED > 0))
