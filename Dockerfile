# One image for every service of docker-compose.yml: migrate, web (gunicorn) and the workers.
# Python 3.11, the version CI tests on (tests/test_compose.py checks that they agree).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VOLUMES_VAR_DIR=/data \
    VOLUMES_MANAGE_COMMAND="python manage.py" \
    PORT=8000

# An account of its own; /data (files, and the SQLite database when DATABASE_URL is unset) is its.
RUN useradd --system --uid 10001 --user-group --no-create-home volumes \
 && mkdir /data && chown volumes:volumes /data

WORKDIR /app
# Runtime dependencies only: test and benchmark tools are in requirements-test.txt / -bench.txt.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Static files collected into the image, served by WhiteNoise (the key only lets settings load).
# Settings create their private folders and SQLite file where VOLUMES_VAR_DIR says: not in /data at build.
RUN DJANGO_SECRET_KEY=only-for-collectstatic VOLUMES_VAR_DIR=/tmp/build-var \
    python manage.py collectstatic --noinput --verbosity 0 && rm -rf /tmp/build-var

USER volumes
VOLUME /data
EXPOSE 8000
# The healthcheck (GET /healthz) is docker-compose.yml's, on the web service only: workers serve no HTTP.
CMD ["gunicorn", "dicomsite.wsgi"]
