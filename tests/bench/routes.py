#!/usr/bin/env python3
"""Writes a ciap config with N public routes, for the route-table benchmark and sizing.

Route i matches the path prefix /teams/<i>/; one in three also names an exact host, one in
three a wildcard host, so the table has the shape of a gateway many teams share. The last
route has no host condition: a request for /teams/<N-1>/ on any host reaches it, after every
other route was a candidate for first-match in order.

Usage: routes.py N PORT ADMIN_PORT UPSTREAM_PORT CERT_DIR > config.yaml
"""
import sys


def main():
    count, port, admin, upstream, certs = int(sys.argv[1]), *sys.argv[2:6]
    out = sys.stdout
    out.write(f"""# {count} routes (tests/bench/routes.py)
logging: {{ access_log: "off" }}
admin: {{ address: "127.0.0.1:{admin}" }}
upstreams:
  - name: app
    endpoints: ["127.0.0.1:{upstream}"]
    connect_timeout: 2s
    idle_timeout: 60s
    max_connections: 512
listeners:
  - name: bench
    address: "127.0.0.1:{port}"
    tls:
      certificates:
        - {{ cert_file: "{certs}/server.crt", key_file: "{certs}/server.key" }}
      min_version: "1.2"
    routes:
""")
    for i in range(count):
        host = ""
        if i < count - 1 and i % 3 == 0:
            host = f"host: svc{i % 97}.ci.example.com, "
        elif i < count - 1 and i % 3 == 1:
            host = f'host: "*.team{i % 31}.example.com", '
        out.write(f"      - name: team-{i}\n"
                  f"        match: {{ {host}path_prefix: /teams/{i}/, methods: [GET, PUT] }}\n"
                  f"        upstream: app\n"
                  f"        public: true\n")


if __name__ == "__main__":
    main()
