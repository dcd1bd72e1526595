# cpu_scorer: scores result archives (PSNR, …) with torch on the CPU; reads PODIUM_COMPETITION_FILE.
# Multi-stage: build a wheel-only virtualenv with the service's extra, run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY proto proto
COPY podium_runtime podium_runtime
COPY cpu_scorer cpu_scorer
# torch from PyTorch's CPU index: its 2.13.0+cpu wheel satisfies the extra's pin (==2.13.0) and, being the
# higher local version, wins over PyPI's CUDA build, so the image carries no CUDA libraries.
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu ".[cpu_scorer]"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home podium
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PODIUM_HTTP_HOST=0.0.0.0
USER podium
EXPOSE 8103
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8103/liveness')"
CMD ["python", "-m", "cpu_scorer"]
