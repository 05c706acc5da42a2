#!/usr/bin/env python3
"""test/http/tools/upstream.py: an app's own webhook handler, for the tests
of presence-http --forward-url (test/http/18_forward.sh).

Listens on 127.0.0.1 (port 0 by default: prints the port it got on a line of
its own, then serves until killed).  Every request is appended to --log as
one JSON line: {"method", "uri" (path and raw query string), "headers"
(name -> value, as received), "body_hex", "at" (unix seconds)}, written
before the reply, so a test can tell what reached the app byte for byte.

The reply depends on the envelope's "type" (the body passes through
presence-http unchanged, so a test picks the reply by the type it sends):
  test:teapot  -> 418, text/plain "short and stout"
  test:boom    -> 500, application/json {"error":"boom"}
  test:slow    -> waits --slow-seconds, then 200 {"pass":true}
  anything else (a body that is not JSON too)
               -> 200, application/json {"pass":true}
"""
import argparse
import json
import sys
import time

from serve import QuietHandler, serve


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--log", default="/dev/null", help="file that records every request")
    p.add_argument("--slow-seconds", type=float, default=10.0)
    return p.parse_args()


ARGS = parse_args()


def event_type(raw):
    try:
        body = json.loads(raw)
        return body.get("type") if isinstance(body, dict) else None
    except ValueError:
        return None


class Handler(QuietHandler):
    def handle_any(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        record = {"method": self.command, "uri": self.path, "at": time.time(),
                  "headers": {k: v for k, v in self.headers.items()}, "body_hex": raw.hex()}
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(record) + "\n")
        kind = event_type(raw)
        if kind == "test:teapot":
            self.reply(418, "short and stout", "text/plain")
        elif kind == "test:boom":
            self.reply(500, '{"error":"boom"}')
        else:
            if kind == "test:slow":
                time.sleep(ARGS.slow_seconds)
            self.reply(200, '{"pass":true}')

    do_POST = handle_any
    do_PUT = handle_any


def main():
    serve(Handler, ARGS.port)


if __name__ == "__main__":
    sys.exit(main())
