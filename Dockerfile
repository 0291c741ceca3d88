# One image for every Catalog process; the command picks which:
#   command-api serve | command-api migrate | command-api token
#   query-api
#   projector run | projector images (the image worker) | projector rebuild | projector verify
#
# Classic Dockerfile syntax only (no RUN --mount, no heredocs): docker-compose v1 builds with the
# legacy builder, and the layer caching below works the same there and under BuildKit.

# Bookworm in every stage: the binaries need at least the builder's glibc at run time, so both
# sides stay on one Debian release. `rust:1` follows stable; the workspace needs >= 1.88.
FROM rust:1-bookworm AS chef
# Pinned: every machine builds with the same cargo-chef, however old its cached layer is.
RUN cargo install cargo-chef --locked --version 0.1.77
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# No packages beyond the rust image: TLS is rustls everywhere (no OpenSSL), and the C inside
# libwebp-sys (vendored libwebp), ring and aws-lc-sys (object_store's S3 client) is compiled by
# the cc crate with the image's gcc; aws-lc-sys takes its CMake-free path on Linux, and
# utoipa-swagger-ui's assets are vendored, so nothing is downloaded but crates.
FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Dependencies only, keyed on the manifests and Cargo.lock: editing our code leaves this layer
# cached. cook and build run in one directory with one profile and one set of binaries, or the
# build cannot reuse what cook left in target/.
RUN cargo chef cook --release --locked --recipe-path recipe.json \
        --bin command-api --bin query-api --bin projector --bin catalog
COPY . .
RUN cargo build --release --locked --bin command-api --bin query-api --bin projector \
        --bin catalog

FROM debian:bookworm-slim AS runtime
LABEL org.opencontainers.image.title="catalog" \
      org.opencontainers.image.description="Catalog: event-sourced CQRS product-data backend" \
      org.opencontainers.image.licenses="Apache-2.0"
# ca-certificates: the S3 client (object_store/reqwest) verifies TLS against the system roots.
# curl: the compose health checks probe /health/ready with it.
# No init (tini): every binary handles SIGTERM/SIGINT itself and starts no child processes to
# reap; `docker run --init` or compose's `init: true` adds one should that change.
# Unpinned (DL3008): Debian drops superseded versions from its mirrors, so a pin would break the
# build at the next security update; bookworm's stable updates are the pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid, so volumes and bind mounts can be prepared for it ahead of time. /data/blobs
# exists and belongs to it because Docker seeds an empty named volume from the image's directory,
# ownership included: the blob volume is then writable without a root entrypoint to chown it.
RUN groupadd --gid 10001 catalog \
    && useradd --uid 10001 --gid catalog --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin catalog \
    && mkdir -p /data/blobs \
    && chown -R catalog:catalog /data
# Root-owned: the process cannot overwrite its own binaries.
COPY --from=builder \
    /app/target/release/command-api \
    /app/target/release/query-api \
    /app/target/release/projector \
    /app/target/release/catalog \
    /usr/local/bin/
# The binaries' defaults suit a developer's machine (127.0.0.1, ./data/blobs); in a container
# they must listen on every interface and keep blobs on the volume.
# MALLOC_ARENA_MAX: glibc gives each thread that allocates an arena of its own, up to eight per
# core, and keeps their freed memory; two arenas keep an idle process about 1.5 MB smaller with no
# measured cost in throughput (docs/PERFORMANCE.md). Raise it on machines with many cores.
ENV COMMAND_API_ADDR=0.0.0.0:8080 \
    QUERY_API_ADDR=0.0.0.0:8081 \
    PROJECTOR_HTTP_ADDR=0.0.0.0:8082 \
    IMAGE_WORKER_HTTP_ADDR=0.0.0.0:8083 \
    BLOB_STORE=file:///data/blobs \
    LOG_FORMAT=json \
    MALLOC_ARENA_MAX=2
# Numeric, so that orchestrators enforcing runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
# command-api, query-api, projector and image worker (/metrics and /health/* on the last two).
EXPOSE 8080 8081 8082 8083
# No HEALTHCHECK: the port to probe depends on the process; compose defines one per service.
# No ENTRYPOINT either, so that `docker run IMAGE projector verify` reads as it runs.
CMD ["command-api", "serve"]
