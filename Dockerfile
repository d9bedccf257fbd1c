# Multi-stage build: compile in the Rust image, run on slim Debian.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/aidbridge --create-home aidbridge
COPY --from=build /src/target/release/aidbridge /usr/local/bin/aidbridge
USER aidbridge
WORKDIR /var/lib/aidbridge
ENV AIDBRIDGE_BIND=0.0.0.0:8080 \
    AIDBRIDGE_DATA_DIR=/var/lib/aidbridge \
    RUST_LOG=info,actix_server=warn
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["aidbridge"]
CMD ["serve"]
