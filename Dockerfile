# syntax=docker/dockerfile:1
# Seawall's one image for every role: `seawall api`, `worker`, `migrate`, `sandbox`, `serve` (the default).
# Build from the repository root:  docker build -t seawall:local .     (docs/deploy.md, "The image")
#
# Stage `build` installs Seawall and the locked dependency set (constraints.txt, the set the test suite
# ran) into a virtual environment; stage `runtime` copies only that environment onto a fresh slim base:
# no compiler, no pip cache, no source tree.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# A C compiler only for a dependency without a wheel for the target platform (every one has an x86-64
# wheel today); it stays in this stage.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The venv gets no pip of its own: the base image's pip installs into it (`--python`).
RUN python -m venv --without-pip /opt/seawall
COPY constraints.txt pyproject.toml README.md ./
COPY src ./src
RUN pip --python /opt/seawall/bin/python install -c constraints.txt . \
    && /opt/seawall/bin/seawall --help >/dev/null

FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="seawall" \
      org.opencontainers.image.description="Backend core for accounts, payments, notifications and webhooks with exactly-once side effects" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}" \
      org.opencontainers.image.documentation="docs/deploy.md"
# A fixed numeric id (Kubernetes' runAsNonRoot can check a number, not a name), no login shell; its
# home is the data directory (SEAWALL_VAR_DIR: the mail drop directory without SMTP, the embedded
# SQLite file of `serve` without a database URL).
RUN groupadd --system --gid 10001 seawall \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/seawall --no-create-home \
       --shell /usr/sbin/nologin seawall \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/seawall
COPY --from=build /opt/seawall /opt/seawall
COPY --chmod=0755 deploy/image/healthcheck.py /usr/local/bin/seawall-healthcheck
# One serving process per container (scale with replicas, not `--workers`): a container sees every
# CPU of the host whatever its CPU limit, so the CPU-count default would start too many.
ENV PATH=/opt/seawall/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    SEAWALL_VAR_DIR=/var/lib/seawall \
    SEAWALL_HOST=0.0.0.0 \
    SEAWALL_PORT=8000 \
    SEAWALL_WEB_WORKERS=1
WORKDIR /var/lib/seawall
USER 10001:10001
EXPOSE 8000
# SIGTERM drains (readiness 503, in-flight requests and jobs finish; docs/operations.md): give the
# container SHUTDOWN_READINESS_DELAY + SHUTDOWN_TIMEOUT (+ a few seconds) before it is killed.
STOPSIGNAL SIGTERM
# The API's (and `serve`'s) liveness route; a worker's compose service or pod probes its metrics port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["seawall-healthcheck"]
ENTRYPOINT ["seawall"]
CMD ["serve"]
