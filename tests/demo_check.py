"""demo_check: the README's first command keeps working. Runs `scripts/demo --check --no-bootstrap`
on three free ports, so that the suite passes while a demo runs on the usual 8443, 9901 and
18080 (or while another suite runs its own demo_check).

The ports are picked below the kernel's ephemeral range (ip_local_port_range), where neither
bind(0) nor an outgoing connection of the other tests takes one between the pick and the demo's
bind; should a port be taken anyway, the demo is retried on others.

ctest sets CIAP_BIN and CIAP_DEMO_DIR. Run by hand: python3 tests/demo_check.py
"""

import os
import random
import socket
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
DEMO_DEFAULTS = {8443, 9901, 18080}
ATTEMPTS = 3


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # no SO_REUSEADDR: TIME_WAIT counts
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports(n):
    low, high = 20000, ephemeral_low()
    rng = random.SystemRandom()
    ports = []
    if high - low >= 1000:
        while len(ports) < n:
            port = rng.randrange(low, high)
            if port not in ports and port not in DEMO_DEFAULTS and bindable(port):
                ports.append(port)
        return ports
    # An unusual ephemeral range: let the kernel pick.
    while len(ports) < n:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in ports and port not in DEMO_DEFAULTS:
            ports.append(port)
    return ports


def main():
    demo = os.path.join(ROOT, "scripts", "demo")
    ciap_log = os.path.join(os.environ.get("CIAP_DEMO_DIR", os.path.join(ROOT, "demo-run")),
                            "ciap.log")
    for attempt in range(1, ATTEMPTS + 1):
        if os.path.exists(ciap_log):
            os.remove(ciap_log)  # read below: only this attempt's
        listen, admin, upstream = free_ports(3)
        env = {**os.environ, "CIAP_DEMO_LISTEN_PORT": str(listen),
               "CIAP_DEMO_ADMIN_PORT": str(admin), "CIAP_DEMO_UPSTREAM_PORT": str(upstream)}
        print(f"demo_check: attempt {attempt}: ports {listen} (TLS), {admin} (admin), "
              f"{upstream} (upstream)", flush=True)
        run = subprocess.run([demo, "--check", "--no-bootstrap"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(run.stdout)
        sys.stdout.flush()
        if run.returncode == 0:
            return 0
        logs = run.stdout
        if os.path.exists(ciap_log):
            with open(ciap_log, errors="replace") as f:
                logs += f.read()
        if "already in use" not in logs.lower():
            return run.returncode
        print("demo_check: a port was taken between the pick and the demo; again on others",
              flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
