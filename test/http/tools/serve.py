"""test/http/tools/serve.py: what the test servers beside presence-http share
(fake_provider.py, upstream.py): a quiet HTTP/1.1 handler with one reply()
and a threaded server on 127.0.0.1 that prints its port on a line of its own.
"""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """Keep-alive, no access log, reply() with a Content-Length."""
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body, ctype="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass


def serve(handler, port):
    """Serve handler on 127.0.0.1:port (0: any), printing the port, until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
