#!/usr/bin/env python3
"""An HTTP/2 client for the integration tests, on python3-h2 (Debian's; run by an interpreter
that has it, see test_http2.h2_python): one connection, many streams at once, and frames as raw
as a test needs them.

    h2_peer.py PORT [--tls --ca CA] < requests.json  > results.json
    h2_peer.py PORT --tls --ca CA --attack NAME --count N   > outcome.json

Attacks (each on one connection, then the client reads what the server does for 5 s):
    rapid_reset         N streams, each reset (CANCEL) right after its HEADERS (CVE-2023-44487)
    empty_data          one open stream, then N DATA frames with no payload and no END_STREAM
    continuation_flood  HEADERS without END_HEADERS, then N CONTINUATION frames, never ending
    hpack_bomb          a 4 KiB header put in the HPACK table, then one header block that
                        refers to it N times (a few bytes on the wire, N × 4 KiB decoded)
    too_many_streams    N streams to /delay/300 at once, past the server's concurrent limit
Outcome: {"goaway": {...} or null, "closed": bool, "statuses": {status: count},
          "resets": {error_code: count}, "sent_frames": N}

requests.json: {"requests": [{"method": "GET", "path": "/x", "headers": [["name", "value"]],
                              "body_b64": "...", "end_stream": true}, ...],
                "authority": "localhost:PORT",   # optional
                "raw_headers": false,            # send the header lists as given (no checks)
                "timeout": 10}
Every request opens a stream at once (none waits for another). The result lists, per request in
order: {"stream_id", "status", "headers", "never_indexed" (names of response fields sent as
never-indexed HPACK literals), "trailers", "body_length", "body_sha256", "body" (first 4 KiB, as
text), "reset" (the error code when the server reset the stream)}, and for the
connection {"goaway": {"error_code", "last_stream_id"} or null, "closed": bool}.
"""

import base64
import hashlib
import json
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack


def connect(port, tls, ca):
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    if not tls:
        return sock
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["h2"])
    tsock = ctx.wrap_socket(sock, server_hostname="localhost")
    if tsock.selected_alpn_protocol() != "h2":
        raise SystemExit(f"ALPN chose {tsock.selected_alpn_protocol()!r}, not h2")
    return tsock


def pump(sock, conn, deadline, handle, done=lambda: False, before_read=lambda: None):
    """Reads frames until `done()` or the deadline, handing each batch of h2 events to `handle`
    and sending what the connection owes (window updates, acks). True when the connection
    closed (or broke the protocol) first."""
    sock.settimeout(0.5)
    while time.time() < deadline and not done():
        before_read()
        try:
            data = sock.recv(1 << 16)
        except socket.timeout:
            continue
        except (ConnectionError, ssl.SSLError, OSError):
            return True
        if not data:
            return True
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            return True
        handle(events)
        try:
            sock.sendall(conn.data_to_send())
        except OSError:
            return True
    return False


def attack(port, ca, name, count):
    import hyperframe.frame as hf

    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                       validate_outbound_headers=False,
                                       validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    sock = connect(port, True, ca)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    base = [(":method", "GET"), (":scheme", "https"), (":authority", f"localhost:{port}")]
    sent = 0
    try:
        if name == "rapid_reset":
            for _ in range(count):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, base + [(":path", "/rapid")])
                conn.reset_stream(sid, error_code=8)
                sent += 2
                if sent % 200 == 0:
                    sock.sendall(conn.data_to_send())
        elif name == "empty_data":
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "POST"), *base[1:], (":path", "/echo")])
            sock.sendall(conn.data_to_send())
            empty = hf.DataFrame(sid, data=b"").serialize()
            for _ in range(count):
                sock.sendall(empty)
                sent += 1
        elif name == "continuation_flood":
            sid = conn.get_next_available_stream_id()
            block = conn.encoder.encode(base + [(":path", "/echo")])
            headers = hf.HeadersFrame(sid, data=block)  # no END_HEADERS
            sock.sendall(conn.data_to_send() + headers.serialize())
            piece = conn.encoder.encode([("x-filler", "a" * 100)])
            for _ in range(count):
                sock.sendall(hf.ContinuationFrame(sid, data=piece).serialize())
                sent += 1
        elif name == "hpack_bomb":
            big = ("x-bomb", "b" * 4000)
            first = conn.get_next_available_stream_id()
            conn.send_headers(first, base + [(":path", "/echo"), big], end_stream=True)
            second = conn.get_next_available_stream_id()
            conn.send_headers(second, base + [(":path", "/echo")] + [big] * count,
                              end_stream=True)
            sent = 2
        elif name == "too_many_streams":
            for _ in range(count):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, base + [(":path", "/delay/300")], end_stream=True)
                sent += 1
        sock.sendall(conn.data_to_send())
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    statuses, resets, goaway = {}, {}, None

    def handle(events):
        nonlocal goaway
        for ev in events:
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers)[":status"]
                statuses[status] = statuses.get(status, 0) + 1
            elif isinstance(ev, h2.events.StreamReset):
                code = str(int(ev.error_code))
                resets[code] = resets.get(code, 0) + 1
            elif isinstance(ev, h2.events.ConnectionTerminated):
                goaway = {"error_code": int(ev.error_code), "last_stream_id": ev.last_stream_id}
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)

    closed = pump(sock, conn, time.time() + 5, handle)
    json.dump({"goaway": goaway, "closed": closed, "statuses": statuses, "resets": resets,
               "sent_frames": sent}, sys.stdout)


def main():
    args = sys.argv[1:]
    if "--attack" in args:
        attack(int(args[0]), args[args.index("--ca") + 1], args[args.index("--attack") + 1],
               int(args[args.index("--count") + 1]))
        return
    port = int(args[0])
    tls = "--tls" in args
    ca = args[args.index("--ca") + 1] if "--ca" in args else None
    spec = json.load(sys.stdin)
    timeout = spec.get("timeout", 15)
    authority = spec.get("authority", f"localhost:{port}")

    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                       validate_outbound_headers=not spec.get("raw_headers"),
                                       normalize_outbound_headers=not spec.get("raw_headers"),
                                       validate_inbound_headers=False)
    conn = h2.connection.H2Connection(config=config)
    sock = connect(port, tls, ca)
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 24})
    conn.increment_flow_control_window(1 << 24)
    sock.sendall(conn.data_to_send())

    results, by_stream, pending_bodies = [], {}, {}
    for req in spec["requests"]:
        sid = conn.get_next_available_stream_id()
        headers = [(":method", req.get("method", "GET")), (":scheme", "https" if tls else "http"),
                   (":authority", authority), (":path", req.get("path", "/"))]
        if req.get("replace_pseudo"):
            headers = []
        headers += [tuple(h) for h in req.get("headers", [])]
        body = base64.b64decode(req["body_b64"]) if "body_b64" in req else b""
        end = req.get("end_stream", not body)
        conn.send_headers(sid, headers, end_stream=end and not body)
        if body:
            pending_bodies[sid] = [body, req.get("end_stream", True)]
        result = {"stream_id": sid, "status": None, "headers": [], "trailers": [],
                  "body_length": 0, "body": "", "reset": None}
        results.append(result)
        by_stream[sid] = {"result": result, "hash": hashlib.sha256(), "done": False}
        sock.sendall(conn.data_to_send())

    goaway = None

    def send_bodies():
        for sid, item in list(pending_bodies.items()):
            body, end = item
            if not body:
                continue
            try:
                window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
            except h2.exceptions.StreamClosedError:
                del pending_bodies[sid]
                continue
            if window <= 0:
                continue
            chunk, item[0] = body[:window], body[window:]
            conn.send_data(sid, chunk, end_stream=end and not item[0])
            if not item[0]:
                del pending_bodies[sid]
        sock.sendall(conn.data_to_send())

    def handle(events):
        nonlocal goaway
        for ev in events:
            state = by_stream.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                state["result"]["headers"] = [list(h) for h in ev.headers]
                # Fields the server sent as never-indexed HPACK literals (RFC 7541 6.2.3).
                state["result"]["never_indexed"] = [
                    h[0] for h in ev.headers if isinstance(h, hpack.NeverIndexedHeaderTuple)]
                state["result"]["status"] = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.TrailersReceived):
                state["result"]["trailers"] = [list(h) for h in ev.headers]
            elif isinstance(ev, h2.events.DataReceived):
                state["hash"].update(ev.data)
                state["result"]["body_length"] += len(ev.data)
                if len(state["result"]["body"]) < 4096:
                    state["result"]["body"] += ev.data.decode("utf-8", "replace")
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                state["done"] = True
            elif isinstance(ev, h2.events.StreamReset):
                if state is not None:
                    state["result"]["reset"] = int(ev.error_code)
                    state["done"] = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                goaway = {"error_code": int(ev.error_code), "last_stream_id": ev.last_stream_id}
                for s in by_stream.values():
                    if s["result"]["stream_id"] > (ev.last_stream_id or 0):
                        s["done"] = True

    closed = pump(sock, conn, time.time() + timeout, handle,
                  done=lambda: all(s["done"] for s in by_stream.values()),
                  before_read=send_bodies)
    for s in by_stream.values():
        s["result"]["body_sha256"] = s["hash"].hexdigest()
        s["result"]["done"] = s["done"]
    json.dump({"results": results, "goaway": goaway, "closed": closed}, sys.stdout)


if __name__ == "__main__":
    main()
