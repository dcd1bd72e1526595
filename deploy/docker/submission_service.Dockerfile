# submission_service: uploads, quotas, status (Postgres schema submissions, bucket submissions); owns the competition (seeded from PODIUM_COMPETITION_SEED).
# Multi-stage: build a wheel-only virtualenv with exactly the locked versions (uv.lock) of the service's extra,
# run as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir uv==0.13.9
COPY pyproject.toml uv.lock README.md ./
COPY proto proto
COPY podium_runtime podium_runtime
COPY submission_service submission_service
RUN uv export --frozen --no-emit-project --extra submission_service -o requirements.txt \
 && python -m venv /venv \
 && uv pip install --no-config --python /venv/bin/python --no-cache --no-deps -r requirements.txt \
 && uv pip install --no-config --python /venv/bin/python --no-cache --no-deps .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home podium
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 PODIUM_HTTP_HOST=0.0.0.0
USER podium
EXPOSE 8102
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8102/liveness')"
CMD ["python", "-m", "submission_service"]
