"""Gunicorn's settings for every way the web server runs (`make run`, docker-compose.yml, .ci/smoke.py).

Gunicorn reads this file from the working folder. The address: `--bind` on the command line, else
0.0.0.0:$PORT (gunicorn's own rule; the image sets PORT=8000); the processes: $WEB_CONCURRENCY.
"""
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Enough threads that a page never waits for one behind uploads (which wait for their turn instead).
threads = 16
# A large upload is read and checked within the request.
timeout = 600
accesslog = "-"


def post_worker_init(worker):
    """Import every service module (numpy, pydicom, the pipeline) as the process starts, not in the first
    upload or page it serves: `volumes.services` imports them when first used, so that `manage.py
    measure` loads only what it needs."""
    import importlib

    from volumes import services

    for module in sorted(set(services.MODULE_OF.values())):
        importlib.import_module(f"volumes.services.{module}")
