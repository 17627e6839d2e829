"""`manage.py measure_worker`: django-tasks-db's `db_worker`, which first recovers measurements whose
worker died, then keeps looking every VOLUMES_WORKER_SWEEP_SECONDS while it runs tasks."""
import logging
import os
import threading

from django.conf import settings
from django.db import connection
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from volumes import services

logger = logging.getLogger(__name__)


class Command(DbWorkerCommand):
    help = "Run queued measurements; measurements whose worker died are queued again or failed with the reason."

    def handle(self, *args, **options):
        os.nice(settings.VOLUMES_WORKER_NICENESS)  # the web server's requests first; its pool processes inherit it
        services.measurements_recover()
        stop = threading.Event()
        sweeper = threading.Thread(target=sweep_until, args=(stop,), name="measurement-recovery", daemon=True)
        sweeper.start()
        try:
            return super().handle(*args, **options)
        finally:
            stop.set()


def sweep_until(stop: threading.Event) -> None:
    try:
        while not stop.wait(settings.VOLUMES_WORKER_SWEEP_SECONDS):
            try:
                services.measurements_recover()
            except Exception:
                logger.exception("recovering measurements failed; trying again later")
    finally:
        connection.close()
