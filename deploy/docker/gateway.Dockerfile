# gateway: the only public HTTP/WebSocket entry; reaches every service over NATS (PODIUM_GATEWAY_HTTP_PORT).
# Multi-stage: build a wheel-only virtualenv with the service's extra, run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proto proto
COPY podium_runtime podium_runtime
COPY gateway gateway
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir ".[gateway]"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home podium
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PODIUM_HTTP_HOST=0.0.0.0
USER podium
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/liveness')"
CMD ["python", "-m", "gateway"]
