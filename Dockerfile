# mcpbuild serve in a slim image, as a non-root user. Not built here (no container engine
# on the machine that wrote it); see the README's "Deploying" section.
#   docker build -t mcpbuild .
#   docker run -p 8000:8000 -e MCPBUILD_SECRET_KEY=... -e MCPBUILD_PUBLIC_URL=https://... \
#     -v "$PWD/connector.yaml:/connector/connector.yaml:ro" mcpbuild /connector/connector.yaml
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml setup.py MANIFEST.in README.md constraints.txt ./
COPY builder ./builder
COPY connectors ./connectors
# The pinned versions the tests ran with; `otel` brings tracing, off unless OTEL_* ask.
RUN pip install --constraint constraints.txt '.[otel]' \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/mcpbuild mcpbuild

USER 10001
# Listen on every interface of the container; the SQLite default is for one replica only
# (set MCPBUILD_STORE=redis://... for several).
ENV MCPBUILD_HOST=0.0.0.0 \
    MCPBUILD_PORT=8000 \
    MCPBUILD_LOG_FORMAT=json \
    MCPBUILD_STORE=sqlite:////var/lib/mcpbuild/state.db
VOLUME ["/var/lib/mcpbuild"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MCPBUILD_PORT', '8000') + '/healthz', timeout=2)"]
ENTRYPOINT ["mcpbuild", "serve"]
CMD ["/connector/connector.yaml"]
