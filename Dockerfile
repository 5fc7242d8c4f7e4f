# The image `car service print kubernetes` runs: car and the Codex CLI the
# tests use, as a non-root user (uid 10001, the manifests' runAsUser).
#   docker build -t codex-autorunner:0.1.0 .
# Build stage: car from this checkout, with the locked dependencies.
FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p car-cli --bin car \
 && cp target/release/car /usr/local/bin/car

# Runtime: Debian slim with git (the loop commits), CA certificates (the
# model's API, notifications), Node.js and npm for the pinned Codex CLI.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git nodejs npm tini \
 && npm install -g --no-audit --no-fund "@openai/codex@0.169.0" \
 && npm cache clean --force \
 && apt-get purge -y npm && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/car /usr/local/bin/car
RUN groupadd --gid 10001 car \
 && useradd --uid 10001 --gid 10001 --home-dir /home/car --create-home --shell /usr/sbin/nologin car
ENV HOME=/home/car
WORKDIR /work
USER 10001:10001
# tini reaps the agent's children and passes SIGTERM on to car, which
# stops its agent and records the run before the pod's grace period ends.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["car", "--help"]
