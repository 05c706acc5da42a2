#!/usr/bin/env python3
"""bench/idle_conns.py HOST PORT COUNT: open COUNT keep-alive HTTP connections
to presence-http, send one GET /healthz on each and read its reply, print
"ready N" (N = connections that got a 200 and are still open), then hold them
all idle until stdin closes (figure 7)."""
import socket
import sys


def read_reply(sock):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        rest += chunk
    return status


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    socks = []
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=10)
        socks.append(s)
    req = b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n"
    for s in socks:
        s.sendall(req)
    ok = sum(1 for s in socks if read_reply(s) == 200)
    print("ready %d" % ok, flush=True)
    sys.stdin.read()
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
