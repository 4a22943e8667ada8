# Production image: PostgreSQL only (the settings refuse SQLite in production).
#   docker build -t sigap .
#   docker run -e SIGAP_DATABASE_URL=postgresql+psycopg://user:pass@db:5432/sigap \
#              -e SIGAP_SECRET_KEY=$(openssl rand -hex 32) -p 8000:8000 sigap
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    SIGAP_ENVIRONMENT=production SIGAP_LOG_JSON=true
WORKDIR /srv/sigap

COPY pyproject.toml requirements.lock README.md alembic.ini ./
COPY app ./app
COPY sync_protocol ./sync_protocol
COPY migrations ./migrations
COPY seed_data ./seed_data
# every dependency (pip and setuptools too) hash-checked from requirements.lock, then Sigap
# itself without dependencies, built by the locked setuptools; editable because the code finds
# seed_data/ and migrations/ beside it in /srv/sigap, not in site-packages
RUN pip install --require-hashes -r requirements.lock \
    && pip install --no-deps --no-build-isolation -e . \
    && useradd --system --uid 10001 sigap
USER sigap

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready').status != 200)"
# migrations first (idempotent), reference data (idempotent upsert), then the API
CMD ["sh", "-c", "sigap migrate && sigap seed && exec uvicorn app.asgi:app --host 0.0.0.0 --port 8000 --workers ${SIGAP_WORKERS:-2} --proxy-headers --no-access-log"]
