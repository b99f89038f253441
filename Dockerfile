# driftguard container image: the same build as `make build` (scripts/install-deps.sh, then
# cmake --build), on Debian 12, and a slim runtime stage running as the non-root user 65532.
#   docker build -t ghcr.io/driftguard/driftguard:0.1.0 .
# Not built in CI (no container engine on the CI machines).

FROM debian:bookworm-slim AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends ca-certificates sudo \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so source edits do not reinstall them.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The Makefile's configure + build steps, without tests, benchmarks or fuzzers.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDRIFTGUARD_BUILD_TESTS=OFF \
        -DDRIFTGUARD_BUILD_BENCH=OFF \
    && cmake --build build -j "$(nproc)" --target driftguard \
    && strip --strip-debug -o /driftguard build/cmd/driftguard/driftguard

FROM debian:bookworm-slim
# Only the shared libraries the binary links (OpenSSL, yaml-cpp, libgit2 with libssh2, spdlog,
# fmt, simdjson, mimalloc, cpp-httplib's zlib and brotli) and the CA roots for https:// Git.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        ca-certificates libssl3 libyaml-cpp0.7 libgit2-1.5 libspdlog1.10 libfmt9 libsimdjson14 \
        libmimalloc2.0 zlib1g libbrotli1 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 65532 driftguard \
    && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin driftguard
COPY --from=build /driftguard /usr/local/bin/driftguard
# Fails the build when a linked library is missing from the runtime stage.
RUN ! ldd /usr/local/bin/driftguard | grep -q "not found"
USER 65532:65532
EXPOSE 9443 8080
ENTRYPOINT ["/usr/local/bin/driftguard"]
CMD ["run", "--help"]
