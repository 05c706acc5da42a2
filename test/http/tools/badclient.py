#!/usr/bin/env python3
"""test/http/tools/badclient.py: misbehaving HTTP clients for presence-http.

    badclient.py MODE --port P [options]

Every mode is bounded in time (--duration), in concurrent connections
(--conns) and, for the looping modes, in requests (--count); it talks to
127.0.0.1 only, and prints one JSON object with its counts on
stdout when it is done.

Modes:
  slowloris   --conns connections each send a request's headers one byte at
              a time, a byte per connection every --interval seconds, never
              finishing them.  Counts the connections the server closed and
              the longest a connection stayed open.
  bigbody     --conns clients in a loop POST bodies of --size bytes (larger
              than --max-body), half with Content-Length, half chunked; counts
              the status codes (or "closed" when the server hung up first).
  truncated   --conns clients in a loop send a Content-Length of --size bytes,
              send half of the body, then close.  With --hold, they keep the
              connection open instead (stalled) until the server closes it.
  flood       opens --conns connections at once (beyond --max-connections),
              sends nothing and holds them for --duration; counts those the
              server accepted and kept, closed at once, or refused.
  bigheader   --conns clients in a loop send a request with --size bytes of
              headers; counts the status codes.
"""
import argparse
import json
import selectors
import socket
import threading
import time


def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_status(s, timeout):
    """The status code of the reply, "closed" if the server hung up first,
    "timeout" if nothing came in time."""
    s.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return "timeout"
    except OSError:
        pass
    if data.startswith(b"HTTP/1.") and len(data) >= 12:
        return data[9:12].decode()
    return "closed"


def count(d, k):
    d[k] = d.get(k, 0) + 1


def loop_clients(a, one):
    """Run one() in --conns threads until --duration is over or --count
    calls were made."""
    counts = {}
    lock = threading.Lock()
    end = time.monotonic() + a.duration
    left = [a.count]

    def take():
        with lock:
            if left[0] <= 0:
                return False
            left[0] -= 1
            return True

    def run():
        local = {}
        while time.monotonic() < end and take():
            try:
                k = one()
            except (ConnectionRefusedError, ConnectionResetError, BrokenPipeError) as e:
                k = type(e).__name__
            except socket.timeout:
                k = "connect-timeout"
            count(local, k)
        with lock:
            for k, v in local.items():
                counts[k] = counts.get(k, 0) + v

    ts = [threading.Thread(target=run) for _ in range(a.conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return counts


def request_head(a, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s" % (a.path, extra)).encode()


def mode_bigbody(a):
    n = [0]

    def one():
        n[0] += 1
        chunked = n[0] % 2 == 0
        s = connect(a.port)
        try:
            if chunked:
                s.sendall(request_head(a, "Transfer-Encoding: chunked\r\n\r\n"))
            else:
                s.sendall(request_head(a, "Content-Length: %d\r\n\r\n" % a.size))
            piece = b"x" * 16384
            sent = 0
            try:
                while sent < a.size:
                    if chunked:
                        s.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    else:
                        s.sendall(piece)
                    sent += len(piece)
                if chunked:
                    s.sendall(b"0\r\n\r\n")
            except OSError:
                pass		# the server may answer and close before the end
            return ("chunked:" if chunked else "length:") + read_status(s, 10)
        finally:
            s.close()

    return loop_clients(a, one)


def mode_truncated(a):
    if a.hold:
        return mode_truncated_hold(a)

    def one():
        s = connect(a.port)
        try:
            s.sendall(request_head(a, "Content-Length: %d\r\n\r\n" % a.size))
            s.sendall(b"{" + b" " * (a.size // 2))
            return "sent-half"
        finally:
            s.close()

    return loop_clients(a, one)


def mode_truncated_hold(a):
    """--conns connections send half a body and stall until closed by the
    server or --duration is over."""
    socks = []
    counts = {}
    start = time.monotonic()
    for _ in range(a.conns):
        try:
            s = connect(a.port)
            s.sendall(request_head(a, "Content-Length: %d\r\n\r\n" % a.size))
            s.sendall(b"{" + b" " * (a.size // 2))
            socks.append(s)
        except OSError as e:
            count(counts, "connect:" + type(e).__name__)
    closed_after = []
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    end = start + a.duration
    open_socks = len(socks)
    while open_socks and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if data.startswith(b"HTTP/1."):
                count(counts, "reply:" + data[9:12].decode())
            count(counts, "closed-by-server")
            closed_after.append(time.monotonic() - start)
            sel.unregister(s)
            s.close()
            open_socks -= 1
    counts["still-open"] = open_socks
    counts["max_seconds_to_close"] = round(max(closed_after), 2) if closed_after else None
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return counts


def mode_slowloris(a):
    socks = []
    counts = {}
    start = time.monotonic()
    for _ in range(a.conns):
        try:
            socks.append(connect(a.port))
        except OSError as e:
            count(counts, "connect:" + type(e).__name__)
    # Headers that never end: a long header value, a byte at a time.
    head = request_head(a, "X-Slow: ") + b"a" * 1000000
    pos = {s: 0 for s in socks}
    opened = {s: time.monotonic() for s in socks}
    lifetimes = []
    end = start + a.duration
    while pos and time.monotonic() < end:
        for s in list(pos):
            try:
                s.send(head[pos[s]:pos[s] + 1])
                pos[s] += 1
                # A server that gave up on us may have answered or closed.
                s.setblocking(False)
                try:
                    data = s.recv(4096)
                    gone = True
                    if data.startswith(b"HTTP/1."):
                        count(counts, "reply:" + data[9:12].decode())
                except BlockingIOError:
                    gone = False
                s.setblocking(True)
            except OSError:
                gone = True
            if gone:
                count(counts, "closed-by-server")
                lifetimes.append(time.monotonic() - opened[s])
                del pos[s]
                s.close()
        time.sleep(a.interval)
    counts["still-open"] = len(pos)
    counts["bytes_per_conn"] = max(pos.values()) if pos else None
    counts["longest_open_seconds"] = round(time.monotonic() - start, 2) if pos else (
        round(max(lifetimes), 2) if lifetimes else None)
    for s in pos:
        s.close()
    return counts


def mode_flood(a):
    socks = []
    counts = {}
    for _ in range(a.conns):
        try:
            socks.append(connect(a.port, timeout=2))
            count(counts, "connected")
        except OSError as e:
            count(counts, "connect:" + type(e).__name__)
    # Which ones does the server close at once (over the limit), which later?
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    start = time.monotonic()
    end = start + a.duration
    closed_at = []
    while sel.get_map() and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                s.recv(4096)
            except OSError:
                pass
            closed_at.append(time.monotonic() - start)
            sel.unregister(s)
            s.close()
    counts["closed-within-1s"] = sum(1 for t in closed_at if t < 1.0)
    counts["closed-later"] = sum(1 for t in closed_at if t >= 1.0)
    counts["held-to-the-end"] = len(sel.get_map())
    for key in list(sel.get_map().values()):
        key.fileobj.close()
    return counts


def mode_bigheader(a):
    def one():
        s = connect(a.port)
        try:
            # --size bytes of headers in 1 KB lines, and a small body.
            lines = "".join("X-Pad-%d: %s\r\n" % (i, "p" * 1000) for i in range(a.size // 1024))
            s.sendall(request_head(a, lines + "Content-Length: 2\r\n\r\n{}"))
            return read_status(s, 10)
        except OSError:
            return "closed"
        finally:
            s.close()

    return loop_clients(a, one)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["slowloris", "bigbody", "truncated", "flood", "bigheader"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/webhook")
    ap.add_argument("--conns", type=int, default=16)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--hold", action="store_true")
    ap.add_argument("--count", type=int, default=1000000,
                    help="at most this many requests (looping modes)")
    a = ap.parse_args()
    result = globals()["mode_" + a.mode](a)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
