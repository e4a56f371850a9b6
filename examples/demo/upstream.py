#!/usr/bin/env python3
"""Demo upstream for ciap: answers every request with a JSON echo of what it received.

Shows what ciap forwards: the normalized path, and the headers it injected
(X-Forwarded-For, x-request-id, route headers such as X-Demo-Route) or removed.
HTTP/1.1 with Content-Length, so ciap can keep its upstream connections alive.

Usage: python3 examples/demo/upstream.py [--host 127.0.0.1] [--port 18080]
"""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EchoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ciap-demo-upstream"
    sys_version = ""

    def _echo(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        payload = {
            "upstream": "ciap demo upstream",
            "method": self.command,
            "path": self.path,
            "client": f"{self.client_address[0]}:{self.client_address[1]}",
            "headers": {name: value for name, value in self.headers.items()},
            "body_bytes": len(body),
        }
        data = (json.dumps(payload, indent=2) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _echo

    def log_message(self, fmt, *args):
        sys.stderr.write("upstream: %s %s\n" % (self.address_string(), fmt % args))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), EchoHandler)
    server.daemon_threads = True
    sys.stderr.write(f"upstream: listening on http://{args.host}:{args.port}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
