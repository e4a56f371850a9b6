#!/usr/bin/env python3
"""Idle keep-alive TLS connections: what each one costs a proxy, and whether it still serves.

For each proxy (--target NAME=PORT:PID, repeated), opens N TLS connections, sends one keep-alive
request on each and reads the whole answer, then leaves them open and idle. The proxy's resident
memory (VmRSS of PID) is read before and after: the difference over N is its cost per idle
connection. While every proxy's N connections are held, a new client makes --probe requests to
each proxy, each on a fresh TLS connection, one after another, and their latencies (connect,
handshake, request, answer) are reported per proxy.

The probes alternate between the proxies request by request, so a drift in machine speed (other
tenants of a shared host) hits every proxy alike instead of deciding which one looks faster.
The order walks every ordered pair of proxies equally often (A B C A C B …): each proxy follows
each other one as often, so nothing a proxy leaves behind (work after its answer, caches it
evicts) always falls on the same neighbour; and each probe's connection is closed (untimed)
before the next probe starts.

Each proxy's connections are held by a child process of their own: one process could not hold
N × proxies descriptors under the hard limit, and each child's descriptor table, memory and
garbage collector stay away from the probe. The proxies are opened one after another (opening is
CPU-bound, so the proxies never compete for the CPU while being filled); each proxy's RSS is
read just before its own connections are opened and again after they are open and --settle
seconds have passed, as when one proxy is measured alone. During the probe the holders are idle,
waiting only for the parent's next message on their pipe (no timers, garbage collection off).

Prints one JSON object, {NAME: {...}} in --target order, each with: connections, open_failures,
rss_before_kib, rss_after_kib, kib_per_connection, open_seconds, rss_at_probe_kib (read again
once every proxy is filled), probe_ok, probe_failed, probe_p50_ms, probe_p99_ms,
still_open_after_probe, holder_cpu_ms_idle (the CPU time its holder used from reporting its
connections open to the end of the probe: near 0, it took nothing from the probe) and
first_failure when some connection failed.
"""

import argparse
import asyncio
import gc
import json
import multiprocessing
import resource
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


# ---------------------------------------------------------------------------------------------
# Holder: a child process that opens one proxy's idle connections and keeps them
# ---------------------------------------------------------------------------------------------

def raise_nofile(needed):
    """Raises this process's soft descriptor limit towards the hard one when it is too low."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def cpu_ms():
    return time.process_time() * 1000  # user + system, all threads; finer than os.times()


async def open_idle(host, port, path, count, concurrency, context, held):
    gate = asyncio.Semaphore(concurrency)
    failures = []

    async def one():
        async with gate:
            try:
                status, reader, writer = await asyncio.wait_for(
                    one_request(host, port, context, path, True), 30)
                if status != 200:
                    failures.append(f"HTTP {status}")
                held.append((reader, writer))
            except Exception as e:  # noqa: BLE001 (reported, not hidden)
                failures.append(repr(e))

    await asyncio.gather(*(one() for _ in range(count)))
    return failures


async def hold_async(pipe, host, port, path, count, concurrency):
    context = client_context()
    held = []
    start = time.perf_counter()
    failures = await open_idle(host, port, path, count, concurrency, context, held)
    opened = time.perf_counter() - start
    # From here on this process only waits: its collector would otherwise walk the objects of
    # N connections now and then, taking the load CPU from the probe for milliseconds.
    gc.collect()
    gc.freeze()
    gc.disable()
    loop = asyncio.get_running_loop()

    async def message():
        """The parent's next message; None when it closed the pipe (or died)."""
        readable = loop.create_future()
        # The pipe joins the connections in the loop's epoll set: with no timer pending, the
        # loop sleeps until the parent writes or goes away.
        loop.add_reader(pipe.fileno(), lambda: readable.done() or readable.set_result(None))
        try:
            await readable
        finally:
            loop.remove_reader(pipe.fileno())
        try:
            return pipe.recv()
        except EOFError:
            return None

    # Cancelled timers (the opening's wait_for) leave the loop's heap on its next turns; a
    # short sleep lets them go before the parent is told to start probing.
    await asyncio.sleep(0.05)
    idle_from = cpu_ms()
    pipe.send({"connections": len(held), "open_failures": len(failures),
               "first_failure": failures[0] if failures else None,
               "open_seconds": round(opened, 1)})
    while await message() == "report":
        idle_cpu = round(cpu_ms() - idle_from, 1)  # before the count below adds its own
        still_open = sum(1 for r, w in held if not r.at_eof() and not w.transport.is_closing())
        pipe.send({"still_open_after_probe": still_open, "holder_cpu_ms_idle": idle_cpu})
    for _, writer in held:
        writer.close()


def hold(pipe, host, port, path, count, concurrency):
    """Child process main: holds COUNT connections to PORT until the parent closes the pipe."""
    raise_nofile(count + 100)
    asyncio.run(hold_async(pipe, host, port, path, count, concurrency))


# ---------------------------------------------------------------------------------------------
# Parent: opens through the holders one proxy at a time, then probes them in turn
# ---------------------------------------------------------------------------------------------

def balanced_order(n):
    """Indices 0..n-1 as a cycle in which each ordered pair (i, j), i != j, occurs once (an
    Eulerian circuit of the complete directed graph): each index n - 1 times, never twice in a
    row. 2 → [0, 1]; 3 → [0, 1, 2, 0, 2, 1]."""
    if n == 1:
        return [0]
    # pop() takes the last: the next index in --target order first.
    unused = {i: [(i + d) % n for d in range(n - 1, 0, -1)] for i in range(n)}
    stack, circuit = [0], []
    while stack:  # Hierholzer's algorithm
        v = stack[-1]
        if unused[v]:
            stack.append(unused[v].pop())
        else:
            circuit.append(stack.pop())
    circuit.reverse()
    return circuit[:-1]  # the circuit ends where it started


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))], 2)


async def probe_all(args, targets):
    """--probe requests to each target, one at a time, alternating between the targets."""
    context = client_context()
    latencies = {t["name"]: [] for t in targets}
    failed = {t["name"]: 0 for t in targets}
    order = balanced_order(len(targets))
    done = [0] * len(targets)
    while min(done) < args.probe:
        for i in order:
            if done[i] >= args.probe:  # only at the end, when --probe is no multiple of n - 1
                continue
            done[i] += 1
            name, port = targets[i]["name"], targets[i]["port"]
            start = time.perf_counter()
            writer = None
            try:
                status, _, writer = await asyncio.wait_for(
                    one_request(args.host, port, context, args.path, False), 10)
                if status == 200:
                    latencies[name].append((time.perf_counter() - start) * 1000)
                else:
                    failed[name] += 1
            except Exception:  # noqa: BLE001 (counted as a failure)
                failed[name] += 1
            if writer:
                # Untimed, but before the next probe: closing (the TLS close_notify each way,
                # the proxy's end too) then never overlaps the next proxy's request.
                writer.close()
                try:
                    await asyncio.wait_for(writer.wait_closed(), 1)
                except Exception:  # noqa: BLE001 (the answer was complete; only closing failed)
                    pass
    results = {}
    for t in targets:
        name, values = t["name"], sorted(latencies[t["name"]])
        if t["latencies"]:
            with open(t["latencies"], "w") as f:
                f.writelines(f"{ms:.3f}\n" for ms in values)
        results[name] = {"probe_ok": len(values), "probe_failed": failed[name],
                         "probe_p50_ms": percentile(values, 0.50),
                         "probe_p99_ms": percentile(values, 0.99)}
    return results


def parse_target(text):
    name, sep, rest = text.partition("=")
    port, sep2, pid = rest.partition(":")
    if not (name and sep and sep2 and port.isdigit() and pid.isdigit()):
        raise argparse.ArgumentTypeError(f"expected NAME=PORT:PID, got {text!r}")
    return {"name": name, "port": int(port), "pid": int(pid)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=parse_target, action="append", default=[],
                        metavar="NAME=PORT:PID",
                        help="a proxy: its name in the output, its TLS port and the process to "
                             "measure; repeat for several (probes alternate in this order)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--path", default="/")
    parser.add_argument("--connections", type=int, default=10000, help="idle ones per proxy")
    parser.add_argument("--concurrency", type=int, default=100,
                        help="connections being opened at once")
    parser.add_argument("--probe", type=int, default=200, help="requests per proxy")
    parser.add_argument("--latencies", metavar="FILE",
                        help="file to write every probe's latency to (ms, sorted); with several "
                             "targets FILE must contain {name}, replaced by each target's name")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds to wait before reading a proxy's memory")
    parser.add_argument("--hold", type=float, default=0.0,
                        help="seconds to keep the connections open at the end (to inspect)")
    args = parser.parse_args()

    if not args.target:
        parser.error("give --target NAME=PORT:PID (one or more)")
    names = [t["name"] for t in args.target]
    if len(set(names)) != len(names):
        parser.error("target names must differ")
    if args.latencies and len(names) > 1 and "{name}" not in args.latencies:
        parser.error("--latencies needs {name} in it with several targets")
    for t in args.target:
        t["latencies"] = args.latencies.replace("{name}", t["name"]) if args.latencies else None

    # spawn, not fork: each holder starts with a fresh interpreter, heap and descriptor table
    # (nothing of the parent's or of the holders before it).
    context = multiprocessing.get_context("spawn")
    holders, results, ok = [], {}, True
    try:
        for t in args.target:
            before = rss_kib(t["pid"])
            pipe, child_end = context.Pipe()
            process = context.Process(
                target=hold, name=f"hold-{t['name']}", daemon=True,
                args=(child_end, args.host, t["port"], args.path, args.connections,
                      args.concurrency))
            process.start()
            child_end.close()
            holders.append((t, process, pipe))
            try:
                opened = pipe.recv()
            except EOFError:
                process.join(5)
                opened = {"connections": 0, "open_failures": args.connections,
                          "first_failure": f"holder exited with {process.exitcode}",
                          "open_seconds": None}
            # Read right after this proxy's own settle time, as when it is measured alone (the
            # proxies opened later are other processes; they do not touch this one's memory).
            time.sleep(args.settle)
            after = rss_kib(t["pid"])
            first_failure = opened.pop("first_failure")
            r = {"connections": opened["connections"], "open_failures": opened["open_failures"],
                 "rss_before_kib": before, "rss_after_kib": after,
                 "kib_per_connection": round((after - before) / max(1, opened["connections"]), 2),
                 "open_seconds": opened["open_seconds"]}
            if first_failure:
                r["first_failure"] = first_failure
                ok = False
            results[t["name"]] = r
        for t in args.target:  # shows that the earlier readings still hold at the probe
            results[t["name"]]["rss_at_probe_kib"] = rss_kib(t["pid"])

        # The probing client's own garbage collector would pause the probe and put its pauses
        # into a proxy's p99.
        gc.collect()
        gc.freeze()
        gc.disable()
        probes = asyncio.run(probe_all(args, args.target))
        gc.enable()
        for name, p in probes.items():
            results[name].update(p)
            ok = ok and p["probe_failed"] == 0

        for t, _, pipe in holders:
            try:
                pipe.send("report")
                results[t["name"]].update(pipe.recv())
            except (EOFError, OSError):
                results[t["name"]].update({"still_open_after_probe": 0,
                                           "holder_cpu_ms_idle": None})
                ok = False
        print(json.dumps(results), flush=True)
        time.sleep(args.hold)
    finally:
        for _, process, pipe in holders:
            pipe.close()  # each holder sees EOF, closes its connections and leaves
        for _, process, _ in holders:
            process.join(30)
            if process.is_alive():
                process.kill()
                process.join()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
