# The one image of every Django/Celery service in docker-compose.yml (web, workers, beat, flower, relay,
# migrate, and the monitoring profile's trace viewer): wheels are built in a throwaway stage, the runtime stage holds no compiler and runs as non-root.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements.txt .
# Runtime dependencies only (requirements-local.txt and requirements-dev.txt never reach the image); every
# download is checked against its hash in the lock file.
RUN pip wheel --require-hashes --wheel-dir /wheels -r requirements.txt

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=myproject.settings \
    DJANGO_MEDIA_ROOT=/app/media \
    WEB_PORT=8000
RUN groupadd --system --gid 10001 app && useradd --system --uid 10001 --gid app --home-dir /app app
WORKDIR /app
COPY --from=build /wheels /wheels
COPY requirements.txt .
RUN pip install --require-hashes --no-index --find-links /wheels -r requirements.txt && rm -rf /wheels
COPY . .
# The manifest storage needs collectstatic at build time; settings refuse to load without a secret, so the
# build gets a throwaway one that never reaches a running container.
RUN DJANGO_SECRET_KEY=collectstatic-only-build-time-key python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /app/media /app/traces && chown app:app /app/media /app/traces
USER app
EXPOSE 8000
# The web probe by default; docker-compose.yml gives each other service its own.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["python", "-m", "core.operations.probes", "web"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["gunicorn", "--config", "gunicorn.conf.py", "myproject.wsgi"]
