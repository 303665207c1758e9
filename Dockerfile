# The revops image: one image for web, migrate, worker and beat (see docker-compose.yml).
FROM python:3.12-slim

# `pip install .` also puts a copy of revops/ and apps/ in site-packages,
# where BASE_DIR would not find templates/ or static/; the `celery` script does
# not add the working directory to sys.path, so PYTHONPATH names the source.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so that a code change does not
# reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
RUN pip install --no-deps .

# Production settings insist on a secret and on both service URLs at import
# time; collectstatic touches neither service, so placeholders that exist only
# for this command will do. They do not persist into the image's environment.
RUN REVOPS_ENV=production \
    SECRET_KEY=build-only-collectstatic-placeholder-not-a-real-secret-0123456789 \
    DATABASE_URL=postgres://x@localhost/x \
    REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput

RUN useradd --system --uid 10001 --no-create-home --home-dir /app revops
USER revops

EXPOSE 8000
CMD ["gunicorn", "revops.wsgi:application", "--bind=0.0.0.0:8000", "--workers=2", "--access-logfile=-"]
