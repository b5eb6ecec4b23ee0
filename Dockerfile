# The rackwatch image: one image, one role per container (worker, sink, agent, ...).
FROM python:3.11-slim
WORKDIR /opt/rackwatch
COPY pyproject.toml README.md ./
COPY rackwatch rackwatch
COPY producers producers
COPY streams streams
COPY sinks sinks
COPY schemas schemas
COPY common common
COPY forwarder forwarder
RUN pip install --no-cache-dir . && useradd --system rackwatch
USER rackwatch
ENTRYPOINT []
CMD ["rackwatch", "--help"]
