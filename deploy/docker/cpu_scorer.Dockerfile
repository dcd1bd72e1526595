# cpu_scorer: scores result archives (PSNR, …) with torch on the CPU; follows the competition bucket.
# Multi-stage: build a wheel-only virtualenv with exactly the locked versions (uv.lock) of the service's extra,
# run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock README.md ./
COPY proto proto
COPY podium_runtime podium_runtime
COPY cpu_scorer cpu_scorer
# The lock's torch is the 2.13.0+cpu build: PyTorch's CPU index serves it, so the image carries no CUDA
# libraries. --no-deps: the exported list is the whole locked closure, nothing is resolved again.
RUN uv export --frozen --no-emit-project --extra cpu_scorer -o requirements.txt \
 && python -m venv /venv \
 && uv pip install --no-config --python /venv/bin/python --no-cache --no-deps --extra-index-url https://download.pytorch.org/whl/cpu --index-strategy unsafe-best-match -r requirements.txt \
 && uv pip install --no-config --python /venv/bin/python --no-cache --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home podium
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PODIUM_HTTP_HOST=0.0.0.0
USER podium
EXPOSE 8103
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8103/liveness')"
CMD ["python", "-m", "cpu_scorer"]
