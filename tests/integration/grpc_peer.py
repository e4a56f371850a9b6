#!/usr/bin/env python3
"""A real gRPC server and client for the integration tests, on python3-grpcio (Debian's; run by
an interpreter that has it, see test_http2.python_with). Messages are raw bytes (no generated
code): the service is ciap.test.Echo.

    grpc_peer.py serve [--tls CERT KEY]
        Prints "PORT <n>" once listening on 127.0.0.1, then one JSON line per event:
        {"event": "cancelled", "method": ..., "after_ms": ...} when a call's client went away,
        {"event": "call", "method": ..., "peer": ...} for every call.
    grpc_peer.py call PORT CA TOKEN SCRIPT.json
        Runs the calls of SCRIPT.json ({"calls": [...]}) on one channel (TLS to "localhost"
        with CA; CA "-" for h2c) and prints one JSON result per call, in order.

Methods:
    Unary    returns {"payload": request text, "metadata": {name: value}} and sends initial
             metadata x-echo-subject (the x-ciap-subject it got) and trailing x-trailer: done
    Stream   request "N" (or "N:SIZE"): N messages "message-<i>" (padded to SIZE), trailer
             x-count: N
    Collect  client streaming: the SHA-256 and length of all the messages, concatenated
    Chat     bidirectional: answers each message at once with "echo-<message>" (the client
             sends the next only after that answer: a relay that holds either side deadlocks)
    Slow     sleeps up to the request's seconds while the call is alive; reports cancellation
    Fail     aborts with NOT_FOUND "no such blob" (a trailers-only response)
"""

import concurrent.futures
import hashlib
import json
import queue
import sys
import threading
import time

import grpc

SERVICE = "ciap.test.Echo"


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def metadata_dict(context):
    return {k: v for k, v in context.invocation_metadata() if not k.endswith("-bin")}


def unary(request, context):
    meta = metadata_dict(context)
    emit({"event": "call", "method": "Unary", "peer": context.peer()})
    context.send_initial_metadata([("x-echo-subject", meta.get("x-ciap-subject", "-"))])
    context.set_trailing_metadata([("x-trailer", "done")])
    return json.dumps({"payload": request.decode(errors="replace"), "metadata": meta}).encode()


def stream(request, context):
    emit({"event": "call", "method": "Stream", "peer": context.peer()})
    count, _, size = request.decode().partition(":")
    size = int(size or 0)
    context.set_trailing_metadata([("x-count", count)])
    for i in range(int(count)):
        yield f"message-{i}".encode().ljust(size, b".")


def collect(request_iterator, context):
    emit({"event": "call", "method": "Collect", "peer": context.peer()})
    digest, length, count = hashlib.sha256(), 0, 0
    for message in request_iterator:
        digest.update(message)
        length += len(message)
        count += 1
    return json.dumps({"sha256": digest.hexdigest(), "length": length, "count": count}).encode()


def chat(request_iterator, context):
    emit({"event": "call", "method": "Chat", "peer": context.peer()})
    for message in request_iterator:
        yield b"echo-" + message


def slow(request, context):
    emit({"event": "call", "method": "Slow", "peer": context.peer(),
          "time_remaining": context.time_remaining()})
    start = time.monotonic()
    seconds = float(request.decode() or 5)
    while time.monotonic() - start < seconds:
        if not context.is_active():
            emit({"event": "cancelled", "method": "Slow",
                  "after_ms": int((time.monotonic() - start) * 1000)})
            return b""
        time.sleep(0.02)
    return b"slept"


def fail(request, context):
    context.abort(grpc.StatusCode.NOT_FOUND, "no such blob")


def serve(args):
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=64),
                         options=[("grpc.so_reuseport", 0)])
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Collect": grpc.stream_unary_rpc_method_handler(collect),
        "Chat": grpc.stream_stream_rpc_method_handler(chat),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    if args[:1] == ["--tls"]:
        with open(args[1], "rb") as c, open(args[2], "rb") as k:
            credentials = grpc.ssl_server_credentials([(k.read(), c.read())])
        port = server.add_secure_port("127.0.0.1:0", credentials)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    emit({"event": "listening", "port": port})
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()
    threading.Event().wait()


def run_call(channel, call, metadata):
    method = f"/{SERVICE}/{call['method']}"
    kind = call.get("kind", "unary")
    timeout = call.get("timeout", 30)
    result = {"method": call["method"]}
    start = time.monotonic()
    try:
        if kind == "unary":
            fn = channel.unary_unary(method)
            response, c = fn.with_call(call.get("request", "").encode(), metadata=metadata,
                                       timeout=timeout)
            result["response"] = response.decode(errors="replace")
        elif kind == "stream":
            fn = channel.unary_stream(method)
            c = fn(call.get("request", "").encode(), metadata=metadata, timeout=timeout)
            messages = [m.decode(errors="replace") for m in c]
            result["count"] = len(messages)
            result["in_order"] = all(m.startswith(f"message-{i}")
                                     for i, m in enumerate(messages))
            result["bytes"] = sum(len(m) for m in messages)
        elif kind == "bidi":  # ping-pong: message i+1 goes only after answer i came back
            fn = channel.stream_stream(method)
            turns = queue.Queue()
            turns.put(0)

            def requests():
                while (i := turns.get()) is not None:
                    yield f"{i}".encode()

            c = fn(requests(), metadata=metadata, timeout=timeout)
            answers = []
            for answer in c:
                answers.append(answer.decode())
                turns.put(len(answers) if len(answers) < call["count"] else None)
            result["answers"] = len(answers)
            result["in_order"] = answers == [f"echo-{i}" for i in range(len(answers))]
        else:  # client streaming
            fn = channel.stream_unary(method)
            size, count = call["size"], call["count"]
            chunks = (bytes([i % 251]) * size for i in range(count))
            response, c = fn.with_call(chunks, metadata=metadata, timeout=timeout)
            result["response"] = response.decode()
        result["code"] = "OK"
        result["initial"] = dict(c.initial_metadata())
        result["trailing"] = dict(c.trailing_metadata())
    except grpc.RpcError as e:
        result["code"] = e.code().name
        result["details"] = e.details()
        result["trailing"] = dict(e.trailing_metadata() or ())
    result["ms"] = int((time.monotonic() - start) * 1000)
    return result


def call(args):
    port, ca, token, script = args[0], args[1], args[2], args[3]
    with open(script) as f:
        calls = json.load(f)["calls"]
    target = f"127.0.0.1:{port}"
    if ca == "-":
        channel = grpc.insecure_channel(target)
    else:
        with open(ca, "rb") as f:
            credentials = grpc.ssl_channel_credentials(f.read())
        channel = grpc.secure_channel(target, credentials,
                                      options=[("grpc.ssl_target_name_override", "localhost")])
    metadata = [("authorization", "Bearer " + token)] if token != "-" else []
    parallel = [c for c in calls if c.get("parallel")]
    results = []
    if parallel:
        with concurrent.futures.ThreadPoolExecutor(len(parallel)) as pool:
            results = list(pool.map(lambda c: run_call(channel, c, metadata), parallel))
    results += [run_call(channel, c, metadata) for c in calls if not c.get("parallel")]
    for r in results:
        emit(r)
    channel.close()


if __name__ == "__main__":
    {"serve": serve, "call": call}[sys.argv[1]](sys.argv[2:])
