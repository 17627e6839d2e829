"""Measurements whose worker died: found at a worker's start and then periodically, queued again once,
then failed with the reason. The task queue cannot tell (django-tasks-db leaves its task RUNNING for
ever), so each measurement records which process runs it and since when."""
from __future__ import annotations

import datetime
import logging
import os
import socket

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import Measurement
from .measuring import measurement_enqueue, process_start

logger = logging.getLogger(__name__)

NEVER_QUEUED_AFTER_SECONDS = 60
"""A measurement still without a task this long after its rows were written was never queued: the web
process stopped between the commit and the queue (the queue is written right after the commit)."""


def dead_worker_reason(measurement: Measurement, now: datetime.datetime) -> str | None:
    """Why a running measurement's worker must be dead, or None while it may still be working.

    On the same host a worker that is gone is seen at once (its process id no longer exists, or now
    names a process started later, as a restarted container's process 1); on another host (a
    container), after VOLUMES_MEASUREMENT_TIMEOUT seconds without a result.
    """
    host, _, process = measurement.worker.rpartition(":")
    pid, _, started = process.partition("@")
    if host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid), started):
        return f"the worker measuring it (process {pid}) stopped before it finished"
    timeout = settings.VOLUMES_MEASUREMENT_TIMEOUT
    if measurement.started_at is None or measurement.started_at < now - datetime.timedelta(seconds=timeout):
        return f"its worker gave no result within {timeout:g} s"
    return None


def never_queued(now: datetime.datetime) -> list[Measurement]:
    reason = "it was never handed to a worker: the web process stopped before it queued it"
    stale = now - datetime.timedelta(seconds=NEVER_QUEUED_AFTER_SECONDS)
    found = []
    for measurement in Measurement.objects.filter(state=Measurement.State.QUEUED, task_id="", created_at__lt=stale):
        with transaction.atomic():
            claimed = Measurement.objects.filter(pk=measurement.pk, task_id="").update(task_id="requeued", retry_reason=reason)
            if claimed:
                measurement_enqueue(measurement=measurement)
        if claimed:
            logger.warning("measurement %s: %s", measurement.pk, reason)
            measurement.refresh_from_db()
            found.append(measurement)
    return found


def process_alive(pid: int, started: str) -> bool:
    """Whether process `pid` still runs, and is the one that started then (when the start is known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not started or process_start(pid) in ("", started)


def measurements_recover() -> list[Measurement]:
    """Queue again, or fail after VOLUMES_MEASUREMENT_ATTEMPTS, every running measurement whose worker
    died; queue those that were never queued.

    Each is claimed by a conditional update, so two workers sweeping at once recover it once.
    """
    now = timezone.now()
    recovered = never_queued(now)
    for measurement in Measurement.objects.filter(state=Measurement.State.RUNNING):
        reason = dead_worker_reason(measurement, now)
        if reason is None:
            continue
        still_dead = Measurement.objects.filter(
            pk=measurement.pk, state=Measurement.State.RUNNING, worker=measurement.worker, started_at=measurement.started_at
        )
        with transaction.atomic():
            if measurement.attempts >= settings.VOLUMES_MEASUREMENT_ATTEMPTS:
                message = (
                    f"{reason}, at each of its {measurement.attempts} attempts. The files may need more memory "
                    "or time than this server has; ask an administrator."
                )
                claimed = still_dead.update(state=Measurement.State.FAILED, error_message=message, finished_at=now)
            else:
                claimed = still_dead.update(state=Measurement.State.QUEUED, retry_reason=reason)
                if claimed:
                    measurement_enqueue(measurement=measurement)
        if claimed:
            logger.warning("measurement %s: %s (attempt %s)", measurement.pk, reason, measurement.attempts)
            measurement.refresh_from_db()
            recovered.append(measurement)
    return recovered
