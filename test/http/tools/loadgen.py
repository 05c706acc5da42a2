#!/usr/bin/env python3
"""test/http/tools/loadgen.py: a small, bounded load generator for presence-http.

Several concurrent clients on loopback POST signed deliveries, each a
distinct body (its own userId, sessionId and time) with a fresh nonce, over
keep-alive connections (a new connection after any error).  It stops when
--stop-file appears, after --duration seconds, or after --max deliveries,
whichever comes first.

Every delivery is written to --log as one tab-separated line:

    client seq user_id session_id status_time_ms code retry_after t_start_ms t_end_ms

code is the HTTP status, or ERR:<reason> when no reply came (connection
refused, reset, timeout); retry_after is the Retry-After header or "-".
t_start_ms and t_end_ms are wall-clock milliseconds around the request.
A delivery with a 2xx code was acknowledged: it must be in presence.events.

Only the Python standard library is used.
"""
import argparse
import hashlib
import http.client
import os
import secrets
import sys
import threading
import time


def now_ms():
    return int(time.time() * 1000)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--path", default="/webhook")
    ap.add_argument("--secret", required=True)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--duration", type=float, default=40.0)
    ap.add_argument("--max", type=int, default=200000)
    ap.add_argument("--pause", type=float, default=0.002,
                    help="seconds between a client's deliveries")
    ap.add_argument("--pause-503", type=float, default=0.05,
                    help="seconds to wait after a 503 or a transport error")
    ap.add_argument("--timeout", type=float, default=15.0)
    ap.add_argument("--prefix", default="lg")
    ap.add_argument("--stop-file")
    ap.add_argument("--log", required=True)
    ap.add_argument("--bodies", help="also write each non-2xx reply's body here, one a line")
    a = ap.parse_args()

    deadline = time.monotonic() + a.duration
    lock = threading.Lock()
    issued = [0]
    stop = threading.Event()
    out = open(a.log, "w", buffering=1)
    bodies = open(a.bodies, "w", buffering=1) if a.bodies else None
    # status_time must be distinct per delivery; a shared counter added to a
    # fixed base keeps them distinct across clients and close to "now".
    base_time = now_ms()

    def next_seq():
        with lock:
            if issued[0] >= a.max:
                return None
            issued[0] += 1
            return issued[0]

    def should_stop():
        if stop.is_set():
            return True
        if time.monotonic() >= deadline or (a.stop_file and os.path.exists(a.stop_file)):
            stop.set()
            return True
        return False

    def client(cid):
        conn = None
        while not should_stop():
            seq = next_seq()
            if seq is None:
                break
            user = "%s-c%d-%d" % (a.prefix, cid, seq)
            sess = "s-%d" % seq
            st = base_time + seq
            body = ('{"type":"user:connection_status","id":"%s-ev-%d","time":%d,'
                    '"data":[{"status":"0","userId":"%s","os":"Android","time":%d,'
                    '"sessionId":"%s","clientIp":"10.0.0.1:%d"}]}'
                    % (a.prefix, seq, st, user, st, sess, 1024 + seq % 60000))
            nonce = secrets.token_hex(8)
            ts = str(now_ms())
            sig = hashlib.sha1((a.secret + nonce + ts).encode()).hexdigest()
            url = "%s?nonce=%s&signTimestamp=%s&signature=%s" % (a.path, nonce, ts, sig)
            t0 = now_ms()
            retry_after = "-"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(a.host, a.port, timeout=a.timeout)
                conn.request("POST", url, body=body.encode(),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                reply = r.read()
                code = str(r.status)
                if bodies is not None and not code.startswith("2"):
                    with lock:
                        bodies.write("%s\t%s\n" % (code, reply.decode("utf-8", "replace").replace("\n", " ")))
                retry_after = r.getheader("Retry-After") or "-"
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001: any transport failure is logged
                code = "ERR:" + type(e).__name__
                if conn is not None:
                    conn.close()
                conn = None
            t1 = now_ms()
            with lock:
                out.write("%d\t%d\t%s\t%s\t%d\t%s\t%s\t%d\t%d\n"
                          % (cid, seq, user, sess, st, code, retry_after, t0, t1))
            if code.startswith("2"):
                if a.pause > 0:
                    time.sleep(a.pause)
            else:
                time.sleep(a.pause_503)
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()
    if bodies is not None:
        bodies.close()
    print("issued %d" % issued[0], file=sys.stderr)


if __name__ == "__main__":
    main()
