# ciap container image: a Release build of the `ciap` binary on Debian 12, run as an unprivileged
# user with nothing but its runtime libraries and the CA bundle.
#
#   docker build -t registry.acme.internal/platform/ciap:0.1.0 .
#   docker run --rm -p 8443:8443 -p 9901:9901 -v "$PWD/ciap.yaml:/etc/ciap/ciap.yaml:ro" \
#     -v "$PWD/tls:/etc/ciap/tls:ro" registry.acme.internal/platform/ciap:0.1.0
#
# The config must set admin.address: 0.0.0.0:9901 for the admin port to be reachable from outside
# the container (the Helm chart does this itself). ciap runs in / (the image sets no WORKDIR), and
# relative paths in the config (cert_file, ca_file, jwks_file, ${secret:...}) resolve from there,
# not from /etc/ciap: give the mounted files absolute paths, as above.
ARG DEBIAN_IMAGE=debian:12-slim

FROM ${DEBIAN_IMAGE} AS build
# The -dev packages of the libraries ciap links (no test or benchmark libraries).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build pkg-config \
      libboost1.81-dev libboost-url1.81-dev \
      libssl-dev libre2-dev prometheus-cpp-dev libyaml-cpp-dev libhiredis-dev libnghttp2-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY config config
COPY filters filters
COPY jose jose
COPY net net
COPY proxy proxy
COPY cli cli
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCIAP_BUILD_TESTS=OFF -DCIAP_BUILD_BENCH=OFF \
 && ninja -C /build ciap \
 && strip /build/ciap \
 && /build/ciap version

FROM ${DEBIAN_IMAGE}
# Exactly the shared libraries `ldd ciap` lists (libc, libstdc++ and libgcc are in the base
# image), plus ca-certificates: identity providers and upstreams are verified against it.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libre2-9 libyaml-cpp0.7 libprometheus-cpp-core1.0 \
      libboost-url1.81.0 libhiredis0.14 libnghttp2-14 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 ciap \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin ciap \
 && mkdir -p /etc/ciap
COPY --from=build /build/ciap /usr/local/bin/ciap
USER 65532:65532
# 8443: the listener port of the examples and the chart; 9901: the admin port (/metrics, /ready).
EXPOSE 8443 9901
# ciap drains on SIGTERM (/ready turns 503, in-flight requests finish, exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["ciap"]
CMD ["run", "-c", "/etc/ciap/ciap.yaml"]
