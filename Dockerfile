# syntax=docker/dockerfile:1
# The rackwatch image: one image, one role per container (worker, sink, forward, agent...).
#
#   docker build -t rackwatch .                                   # server store roles + agent
#   docker build --build-arg EXTRAS=gpu,embedded -t rackwatch:embedded .   # + chDB (~180 MB)
#
# Dependencies are installed in a layer of their own, from pyproject.toml alone, so a code
# change rebuilds only the last layers. chDB (the embedded store) is the `embedded` extra:
# roles that talk to a ClickHouse server do not carry it.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG EXTRAS=gpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/rackwatch
WORKDIR /src
COPY pyproject.toml deploy/docker/requirements.py ./
RUN python requirements.py pyproject.toml "$EXTRAS" > requirements.txt \
 && /opt/rackwatch/bin/pip install -r requirements.txt
COPY . .
RUN /opt/rackwatch/bin/pip install --no-deps . && rm -rf /src

FROM python:${PYTHON_VERSION}-slim
# A fixed uid/gid, so that volumes and the Kubernetes securityContext (runAsUser) agree.
RUN groupadd --system --gid 10001 rackwatch \
 && useradd --system --uid 10001 --gid rackwatch --home-dir /var/lib/rackwatch \
      --shell /usr/sbin/nologin rackwatch \
 && mkdir -p /var/lib/rackwatch /etc/rackwatch \
 && chown rackwatch:rackwatch /var/lib/rackwatch \
 && install -d -m 1777 /var/lib/rackwatch/backup
# backup/ holds the backup status file: written by whichever uid runs `rackwatch backup`
# (with a server's backup disk, the server's own, so it may delete what the server wrote),
# read by the sink's /metrics (sinks.backupstatus).
COPY --from=build /opt/rackwatch /opt/rackwatch
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/rackwatch-healthcheck
ENV PATH=/opt/rackwatch/bin:$PATH \
    RACKWATCH_HOME=/var/lib/rackwatch \
    PYTHONUNBUFFERED=1
USER rackwatch
WORKDIR /var/lib/rackwatch
# worker, sink, forwarder, agent: /metrics, /healthz, /readyz
EXPOSE 9464 9465 9466 9467
# Ready, not merely alive: the role's own /readyz (a worker: partitions assigned and
# caught up). Compose names the role's port; alone, the first port that answers decides.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=4 \
  CMD ["python", "/usr/local/bin/rackwatch-healthcheck"]
ENTRYPOINT []
CMD ["rackwatch", "--help"]
