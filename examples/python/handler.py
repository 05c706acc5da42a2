#!/usr/bin/env python3
"""examples/python/handler.py: an app's own webhook handler that feeds presence.

The provider sends every event the app selects to one URL.  This handler
receives them all, hands each delivery to presence_ingest() in PostgreSQL
(which checks the signature, applies user:connection_status and answers
other types with `ignored`), does the app's own work for the other types
(here: lets every *:pre_messaging message pass), and pushes the presence
feed (LISTEN presence; the database needs presence.feed = 'notify') to
browsers as server-sent events on GET /events.

Settings from the environment: PORT (default 8000; 0 picks a free port),
and the libpq variables (PGHOST, PGDATABASE, ...) or DATABASE_URL.
Needs psycopg2 (Debian: python3-psycopg2).  Run: python3 handler.py
"""
import json
import os
import queue
import select
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import psycopg2.pool

DSN = os.environ.get("DATABASE_URL", "")
POOL = psycopg2.pool.ThreadedConnectionPool(1, 8, DSN)
CLIENTS = set()                 # one queue per open /events stream
CLIENTS_LOCK = threading.Lock()


def signature(query, headers):
    """nonce, signTimestamp, signature, appKey: query string first, then headers."""
    q = urllib.parse.parse_qs(query)

    def pick(names, header):
        for n in names:
            if n in q:
                return q[n][0]
        return headers.get(header) or headers.get("RC-" + header)
    return (pick(["nonce"], "Nonce"), pick(["signTimestamp", "timestamp"], "Timestamp"),
            pick(["signature"], "Signature"), pick(["appKey"], "App-Key"))


def ingest(body, sig):
    """presence_ingest() for one delivery: (HTTP status, reply object)."""
    conn = POOL.getconn()
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT (r).* FROM presence_ingest(%s, %s, %s, %s, %s) AS r", (body, *sig))
            names = [d[0] for d in cur.description]
            return 200, dict(zip(names, cur.fetchone()))
    except psycopg2.Error as e:
        code = e.pgcode or ""
        status = 401 if code == "28000" else 400 if code.startswith("22") else \
            413 if code == "54000" else 503
        return status, {"error": e.diag.message_primary if e.diag else str(e)}
    finally:
        POOL.putconn(conn)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/webhook":
            return self.reply(404, {"error": "not found"})
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8", "replace")
        status, result = ingest(body, signature(url.query, self.headers))
        if status == 200 and result["ignored"] > 0:
            # Another event type, signed: the app's own work goes here.
            kind = json.loads(body).get("type", "")
            if kind.endswith(":pre_messaging"):
                return self.reply(200, {"pass": True})
        self.reply(status, result)

    def do_GET(self):
        if self.path != "/events":
            return self.reply(404, {"error": "not found"})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        q = queue.Queue()
        with CLIENTS_LOCK:
            CLIENTS.add(q)
        try:
            self.wfile.write(b": connected\n\n")
            self.wfile.flush()
            while True:
                try:
                    payload = q.get(timeout=15)
                    self.wfile.write(b"event: presence\ndata: " + payload.encode() + b"\n\n")
                except queue.Empty:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except OSError:
            pass
        finally:
            with CLIENTS_LOCK:
                CLIENTS.discard(q)

    def log_message(self, fmt, *args):
        pass


def listen_feed(conn):
    """Hand each message of LISTEN presence to every /events stream."""
    while True:
        select.select([conn], [], [], 15)
        conn.poll()
        while conn.notifies:
            payload = conn.notifies.pop(0).payload
            with CLIENTS_LOCK:
                for q in CLIENTS:
                    q.put(payload)


def main():
    feed = psycopg2.connect(DSN)
    feed.autocommit = True
    feed.cursor().execute("LISTEN presence")
    threading.Thread(target=listen_feed, args=(feed,), daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8000"))), Handler)
    server.daemon_threads = True
    print("listening on port %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
