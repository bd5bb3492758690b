# psserver: the PlateSpin Migrate Server emulator, and migrate-agent.
# Build: docker build -t psserver .   Run: docker compose up (see docker-compose.yml)

# --- build stage: the toolchain and the whole source -------------------------------------------
FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The workspace's other members: the crate shared with the agent, and the agent.
COPY crates ./crates
COPY migrations ./migrations
COPY driver-packages ./driver-packages
COPY examples ./examples
COPY templates ./templates
COPY static ./static
# --workspace: the root package alone would build psserver only; migrate-agent is a member.
RUN cargo build --release --locked --workspace --bins

# --- runtime stage: the two binaries, the sample packages, a non-root user ----------------------
FROM debian:bookworm-slim AS runtime
RUN useradd --system --uid 10001 --home-dir /var/lib/psserver --shell /usr/sbin/nologin psserver \
    && mkdir -p /var/lib/psserver /opt/psserver \
    && chown psserver:psserver /var/lib/psserver
COPY --from=builder /src/target/release/psserver /src/target/release/migrate-agent /usr/local/bin/
COPY --from=builder /src/driver-packages /opt/psserver/driver-packages
ENV PSSERVER_LISTEN=0.0.0.0:8080 \
    PSSERVER_DATA_DIR=/var/lib/psserver \
    PSSERVER_DRIVER_PACKAGES=/opt/psserver/driver-packages
USER psserver
WORKDIR /var/lib/psserver
VOLUME ["/var/lib/psserver"]
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /_emu/ready, which answers 200 once migrated and indexed.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /_emu/ready HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/psserver"]
