"""Health: whether the database, the media storage and the queue answer, and how many tasks wait.

Cheap enough for a container healthcheck every few seconds: one query each, one storage probe, no
patient data in the answer.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.storage import FileSystemStorage, storages
from django.db import connection
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from .storing import private_folder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"ok": self.ok, **self.detail}


@dataclass(frozen=True)
class Health:
    database: Check
    storage: Check
    queue: Check

    @property
    def ok(self) -> bool:
        return self.database.ok and self.storage.ok and self.queue.ok

    def as_dict(self) -> dict:
        return {
            "status": "ok" if self.ok else "unavailable",
            "database": self.database.as_dict(),
            "storage": self.storage.as_dict(),
            "queue": self.queue.as_dict(),
        }


def health_check() -> Health:
    return Health(database=database_check(), storage=storage_check(), queue=queue_check())


def failure(part: str, error: Exception) -> Check:
    logger.warning("health check: the %s is down: %s", part, error)
    return Check(ok=False, detail={"error": type(error).__name__})


def database_check() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return failure("database", error)
    return Check(ok=True, detail={"vendor": connection.vendor})


def storage_check() -> Check:
    storage = storages["default"]
    try:
        if isinstance(storage, FileSystemStorage):
            folder_check(storage.location)
        else:
            # One request: the top-level folders (instances/, histograms/, thumbnails/). A missing
            # bucket or refused credentials fail here, where asking for one name would not.
            storage.listdir("")
    except Exception as error:
        return failure("storage", error)
    return Check(ok=True, detail={"backend": type(storage).__name__})


def folder_check(location: str) -> None:
    """A file system storage answers when its folder exists (or can be made) and can be written."""
    private_folder(Path(location))
    if not os.access(location, os.W_OK | os.X_OK):
        raise PermissionError("the media folder cannot be written")


def queue_check() -> Check:
    """Tasks waiting and running, where the queue is in the database; other backends have no depth."""
    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    if not isinstance(backend, DatabaseBackend):
        return Check(ok=True, detail={"backend": type(backend).__name__, "waiting": None, "running": None})
    try:
        results = DBTaskResult.objects.filter(backend_name=backend.alias)
        waiting = results.ready().count()
        running = results.running().count()
    except Exception as error:
        return failure("queue", error)
    return Check(ok=True, detail={"backend": type(backend).__name__, "waiting": waiting, "running": running})
