#!/bin/bash
# test/http/26_cl_te.sh: a request with both Content-Length and Transfer-Encoding is 400
# and its connection closed.
#
# Which header frames the body is the classic request-smuggling ambiguity: a proxy in
# front may read one and presence-http the other, so whatever follows on the
# connection could be a request the proxy never saw.  RFC 9112 section 6.3: such a
# request is refused and the connection closed, so nothing after it is read.

# shellcheck source=lib.bash
. "$(dirname "$0")/lib.bash"

command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is not installed"; exit 0; }
plan 4
setup_db
start_shim --workers 1
sign
q="nonce=$NONCE&signTimestamp=$TS&signature=$SIG"
body=$(envelope ev-1 smuggled 0 s1)

# Send the request and a second one behind it on the same connection; print the status
# lines received and whether the server closed the connection.
out=$(python3 - "$SHIM_PORT" "$q" "$body" <<'PY'
import socket, sys
port, q, body = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode()
chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
req = (b"POST /webhook?" + q.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
       b"Transfer-Encoding: chunked\r\n\r\n" % len(chunked)) + chunked
req += b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(req)
data, closed = b"", False
try:
    while True:
        c = s.recv(65536)
        if not c:
            closed = True
            break
        data += c
except OSError:
    pass
codes = [l.split()[1].decode() for l in data.split(b"\r\n") if l.startswith(b"HTTP/1.")]
print(" ".join(codes), "closed" if closed else "open")
PY
)
is "${out%% *}" 400 "Content-Length with Transfer-Encoding: 400"
like "$out" "^400 closed$" "and the connection is closed, nothing after it answered ($out)"
is "$(sql "SELECT count(*) FROM presence.users")" 0 "nothing was applied"
deliver "$body"
is "$CODE" 200 "a delivery framed by Content-Length alone is still served"
exit $((FAILED > 0))
