# Multi-stage build. Queries are checked against the committed .sqlx data
# (SQLX_OFFLINE, set in .cargo/config.toml), so no database is needed here.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Without the demo: no simulator (and none of its keys) in the production binary.
RUN cargo build --release --locked -p oauth-cockpit --no-default-features

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /nonexistent cockpit
COPY --from=build /src/target/release/oauth-cockpit /usr/local/bin/oauth-cockpit
USER cockpit
EXPOSE 8080
ENTRYPOINT ["oauth-cockpit"]
CMD ["serve"]
