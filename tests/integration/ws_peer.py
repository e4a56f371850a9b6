#!/usr/bin/env python3
"""WebSocket peers for ciap's tests (python3-websockets, an implementation independent of ciap).

    ws_peer.py serve
        An echo server on 127.0.0.1 (a free port): prints {"listening": PORT}, then one JSON line
        per connection with the handshake's request headers ({"headers": {...}}, lower-case
        names), and echoes every message back as it came (text as text, binary as binary).
    ws_peer.py client URL [--header NAME:VALUE]... [--ca FILE] [--count N] [--big BYTES]
                          [--idle SECONDS]
        Connects (wss with --ca as the only trust), sends N messages alternating text and binary
        (the first binary one BYTES long), checks each echo, and prints {"ok": true,
        "messages": N}. With --idle it then sends nothing for SECONDS and reports whether the
        connection was closed meanwhile ({"closed_while_idle": true}). A refused handshake
        prints {"ok": false, "status": CODE}. Keepalive pings are off: idle means idle.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

import websockets


async def serve():
    async def echo(ws, path=None):
        print(json.dumps({"headers": {k.lower(): v for k, v in ws.request_headers.raw_items()}}),
              flush=True)
        try:
            async for message in ws:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass

    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"listening": port}), flush=True)
        await asyncio.Future()


async def client(args):
    headers = [tuple(h.split(":", 1)) for h in args.header]
    context = None
    if args.url.startswith("wss:"):
        context = ssl.create_default_context(cafile=args.ca)
    try:
        ws = await websockets.connect(args.url, extra_headers=headers, ssl=context,
                                      max_size=None, ping_interval=None, open_timeout=10)
    except websockets.InvalidStatusCode as e:
        return {"ok": False, "status": e.status_code}
    try:
        return await exchange(ws, args)
    finally:
        await ws.close()


async def exchange(ws, args):
    for i in range(args.count):
        if i % 2:
            size = args.big if i == 1 else 100 + i
            message = os.urandom(size)
        else:
            message = f"text message {i} " + "é" * (i % 7)
        await ws.send(message)
        echo = await asyncio.wait_for(ws.recv(), 30)
        if echo != message:
            return {"ok": False, "mismatch": i}
    result = {"ok": True, "messages": args.count}
    if args.idle:
        try:
            await asyncio.wait_for(ws.recv(), args.idle)
            result["closed_while_idle"] = False
        except asyncio.TimeoutError:
            result["closed_while_idle"] = False
        except websockets.ConnectionClosed:
            result["closed_while_idle"] = True
    return result


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve")
    c = sub.add_parser("client")
    c.add_argument("url")
    c.add_argument("--header", action="append", default=[])
    c.add_argument("--ca")
    c.add_argument("--count", type=int, default=100)
    c.add_argument("--big", type=int, default=1 << 20)
    c.add_argument("--idle", type=float, default=0)
    args = parser.parse_args()
    if args.command == "serve":
        asyncio.run(serve())
    else:
        print(json.dumps(asyncio.run(client(args))), flush=True)


if __name__ == "__main__":
    sys.exit(main())
