#!/usr/bin/env python3
"""test/http/tools/fake_provider.py: a fake of the chat provider's status API
for presence-http's reconcile tests and for trying reconciliation by hand.

Serves both API shapes on 127.0.0.1 (port 0 by default: it prints the port
it got, on a line of its own, then serves until killed):
  v4:     POST /v4/user/connection-status/get (the path of the provider's API
          definition and SDKs; with --v4-path old, only the older docs' path
          /v4/user/online-status/get, logged as api "v4old"; with both, both),
          JSON {"userId": ...} -> {"code": 0, "result": {"status": "1"|"0"}}
  legacy: POST /user/checkOnline.json, form userId=...
          -> {"code": 200, "status": "1"|"0"}
Every request's App-Key, Nonce, Timestamp (Unix seconds, within 300 s of
now) and Signature (sha1 hex of secret + nonce + timestamp) are checked
against --app-key and --secret; a badly signed request gets 401.  Every
call is appended to --log as one line: "<unix time, seconds with
microseconds> <api> <userId> sig=ok|bad <nonce> <timestamp> <signature>";
a POST to a path it does not serve is logged "<time> 404 <path> -".

What each user gets: --online/--offline/--error500/--bad-json/--bad-code/
--bad-status/--slow/--offline-slow USER (repeatable; slow answers online
after --slow-seconds, offline-slow offline after --late-seconds or as soon
as the --gate file exists); a file given with --answers holds
lines "USER ANSWER" with the same answer names and is re-read on every
request, so a test can change answers while it runs: the last line for a
user wins, so appending a line changes the answer.  A request's answer is
taken before the request is logged, so once a test sees the call in --log,
changing the answer no longer changes that request's.  Users named nowhere
get --default (online).
"""
import argparse
import hashlib
import json
import os
import sys
import time
import urllib.parse

from serve import QuietHandler, serve

ANSWERS = ("online", "offline", "error500", "bad-json", "bad-code", "bad-status", "slow",
           "offline-slow")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--app-key", default="demo-app-key")
    p.add_argument("--secret", default="demo-app-secret")
    p.add_argument("--log", default="/dev/null", help="file that records every call")
    p.add_argument("--answers", help="file of 'USER ANSWER' lines, read per request")
    p.add_argument("--v4-path", default="sdk", choices=("sdk", "old", "both"),
                   help="which v4 path is served: the SDKs', the older docs', or both")
    p.add_argument("--default", default="online", choices=ANSWERS)
    p.add_argument("--slow-seconds", type=float, default=10.0,
                   help="how long 'slow' waits before it answers online")
    p.add_argument("--late-seconds", type=float, default=2.0,
                   help="how long 'offline-slow' waits at most before it answers offline")
    p.add_argument("--gate", help="'offline-slow' answers as soon as this file exists")
    for a in ANSWERS:
        p.add_argument("--" + a, action="append", default=[], metavar="USER")
    return p.parse_args()


ARGS = parse_args()
V4_PATHS = {p: api for p, api, served in (
    ("/v4/user/connection-status/get", "v4", ("sdk", "both")),
    ("/v4/user/online-status/get", "v4old", ("old", "both"))) if ARGS.v4_path in served}


def answer_for(user):
    found = None
    if ARGS.answers:
        try:
            with open(ARGS.answers) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and parts[0] == user and parts[1] in ANSWERS:
                        found = parts[1]    # the last line for a user wins
        except OSError:
            pass
    if found:
        return found
    for a in ANSWERS:
        if user in getattr(ARGS, a.replace("-", "_")):
            return a
    return ARGS.default


def signed(headers):
    nonce = headers.get("Nonce", "")
    ts = headers.get("Timestamp", "")
    sig = headers.get("Signature", "")
    want = hashlib.sha1((ARGS.secret + nonce + ts).encode()).hexdigest()
    fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
    return (headers.get("App-Key") == ARGS.app_key and len(nonce) > 0
            and fresh and sig == want)


class Handler(QuietHandler):
    def do_POST(self):
        now = time.time()
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        api = V4_PATHS.get(self.path)
        if api is not None:
            try:
                user = json.loads(raw)["userId"]
            except (ValueError, KeyError, TypeError):
                user = None
        elif self.path == "/user/checkOnline.json":
            api = "legacy"
            user = urllib.parse.parse_qs(raw.decode("utf-8", "replace")).get("userId", [None])[0]
        else:
            with open(ARGS.log, "a") as f:
                f.write("%.6f 404 %s -\n" % (now, self.path))
            self.reply(404, '{"code": 404}')
            return
        ok = signed(self.headers)
        a = answer_for(user) if ok and user is not None else None
        with open(ARGS.log, "a") as f:
            f.write("%.6f %s %s sig=%s %s %s %s\n" % (
                now, api, user, "ok" if ok else "bad", self.headers.get("Nonce", "-"),
                self.headers.get("Timestamp", "-"), self.headers.get("Signature", "-")))
        if a is None:
            self.reply(401 if not ok else 400, '{"code": 401}')
            return
        self.answer(api, a)

    def answer(self, api, a):
        if a == "slow":
            time.sleep(ARGS.slow_seconds)
            a = "online"
        elif a == "offline-slow":
            end = time.time() + ARGS.late_seconds
            while time.time() < end and not (ARGS.gate and os.path.exists(ARGS.gate)):
                time.sleep(0.02)
            a = "offline"
        if a == "error500":
            self.reply(500, '{"code": 500}')
        elif a == "bad-json":
            self.reply(200, '{"code": 0, "result": {"status": "0"' if api.startswith("v4")
                       else '{"code": 200, "status": "0"')
        else:
            status = {"online": "1", "offline": "0", "bad-code": "0", "bad-status": "2"}[a]
            code = (0 if api.startswith("v4") else 200) if a != "bad-code" else 1
            if api.startswith("v4"):
                self.reply(200, json.dumps({"code": code, "result": {"status": status}}))
            else:
                self.reply(200, json.dumps({"code": code, "status": status}))


def main():
    serve(Handler, ARGS.port)


if __name__ == "__main__":
    sys.exit(main())
