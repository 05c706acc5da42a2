#!/usr/bin/env python3
"""test/http/tools/rawhttp.py: send one request, byte for byte, to presence-http.

    rawhttp.py PORT REQUEST

REQUEST is the request's text with \\r\\n written as \\n (each line gets its
CRLF back); the headers end at the first empty line and the rest is the body,
sent as it is.  Prints the status code of the reply, or "closed" when the
server hung up without one.  Loopback only, 10 s at most.
"""
import socket
import sys


def main():
    port = int(sys.argv[1])
    head, _, body = sys.argv[2].partition("\n\n")
    data = head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body.encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(data)
    reply = b""
    try:
        while b"\r\n" not in reply:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    except OSError:
        pass
    s.close()
    if reply.startswith(b"HTTP/1.") and len(reply) >= 12:
        print(reply[9:12].decode())
    else:
        print("closed")


if __name__ == "__main__":
    main()
