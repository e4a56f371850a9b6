#!/usr/bin/env python3
"""Idle keep-alive TLS connections: what each one costs a proxy, and whether it still serves.

Opens N TLS connections to a proxy, sends one keep-alive request on each and reads the whole
answer, then leaves them open and idle. The proxy's resident memory (VmRSS of --pid) is read
before and after: the difference over N is its cost per idle connection. While the N connections
are held, a new client makes --probe requests, each on a fresh TLS connection, one after another,
and their latencies (connect, handshake, request, answer) are reported.

Prints one JSON object: connections, kib_per_connection, rss_before_kib, rss_after_kib,
probe_ok, probe_failed, probe_p50_ms, probe_p99_ms, open_seconds.
"""

import argparse
import asyncio
import gc
import json
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def client_context():
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


async def read_response(reader):
    """Reads one HTTP/1.1 response with a Content-Length or chunked body; returns the status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def one_request(host, port, context, path, keep_alive):
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    connection = "keep-alive" if keep_alive else "close"
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: {connection}\r\n\r\n".encode())
    await writer.drain()
    status = await read_response(reader)
    return status, reader, writer


async def open_idle(args, context, held):
    gate = asyncio.Semaphore(args.concurrency)
    failures = []

    async def one():
        async with gate:
            try:
                status, reader, writer = await asyncio.wait_for(
                    one_request(args.host, args.port, context, args.path, True), 30)
                if status != 200:
                    failures.append(f"HTTP {status}")
                held.append(writer)
            except Exception as e:  # noqa: BLE001 (reported, not hidden)
                failures.append(repr(e))

    await asyncio.gather(*(one() for _ in range(args.connections)))
    return failures


async def probe(args, context):
    latencies, failed = [], 0
    for _ in range(args.probe):
        start = time.perf_counter()
        try:
            status, _, writer = await asyncio.wait_for(
                one_request(args.host, args.port, context, args.path, False), 10)
            writer.close()
            if status == 200:
                latencies.append((time.perf_counter() - start) * 1000)
            else:
                failed += 1
        except Exception:  # noqa: BLE001 (counted as a failure)
            failed += 1
    latencies.sort()

    def pct(p):
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2)

    return {"probe_ok": len(latencies), "probe_failed": failed,
            "probe_p50_ms": pct(0.50), "probe_p99_ms": pct(0.99)}


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the proxy process to measure")
    parser.add_argument("--path", default="/")
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=100,
                        help="connections being opened at once")
    parser.add_argument("--probe", type=int, default=200)
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait before reading the proxy's memory")
    parser.add_argument("--hold", type=float, default=0.0,
                        help="seconds to keep the connections open at the end (to inspect)")
    args = parser.parse_args()

    context = client_context()
    held = []
    before = rss_kib(args.pid)
    start = time.perf_counter()
    failures = await open_idle(args, context, held)
    opened = time.perf_counter() - start
    await asyncio.sleep(args.settle)
    after = rss_kib(args.pid)
    result = {"connections": len(held), "open_failures": len(failures),
              "rss_before_kib": before, "rss_after_kib": after,
              "kib_per_connection": round((after - before) / max(1, len(held)), 2),
              "open_seconds": round(opened, 1)}
    # The client's own garbage collector, walking 10,000 connections' objects, would pause the
    # probe for tens of milliseconds and put its own pauses into the proxy's p99.
    gc.collect()
    gc.freeze()
    gc.disable()
    result.update(await probe(args, context))
    gc.enable()
    still_open = sum(1 for w in held if not w.is_closing() and not w.transport.is_closing())
    result["still_open_after_probe"] = still_open
    if failures:
        result["first_failure"] = failures[0]
    print(json.dumps(result), flush=True)
    await asyncio.sleep(args.hold)
    for writer in held:
        writer.close()
    return 0 if not failures and result["probe_failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
