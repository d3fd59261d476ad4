# The appstack binary as an image: the Kubernetes operator (`appstack operator`, non-root)
# and the single-VPS daemon (`appstack run`, see compose/appstack/docker-compose.yml).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin appstack && strip target/release/appstack

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client tar \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 65532 --no-create-home --shell /usr/sbin/nologin appstack
COPY --from=build /src/target/release/appstack /usr/local/bin/appstack
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/appstack"]
CMD ["--help"]
