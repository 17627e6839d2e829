"""Measuring: histograms of a series (read once, then kept), the threshold, the volume, the picture."""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import replace
from pathlib import Path

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from ..imaging.body import preview_inside
from ..imaging.histograms import MeasurementError, VolumeHistogram, histogram_volume
from ..imaging.measure import measure_histogram
from ..imaging.reader import read_images
from ..imaging.render import preview_png
from ..imaging.thresholds import ThresholdRequest
from ..models import Measurement, Series
from .media import instances_on_disk
from .scanning import decode_processes, series_volume
from .viewing import series_body_histogram, stored_body

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = "The measurement failed because of an internal error; it has been logged for the administrators."


def measurement_enqueue(*, measurement: Measurement) -> None:
    """Queue the measurement for the worker once the rows it needs are committed."""
    from ..tasks import measure_task

    measurement_id = measurement.pk

    def enqueue() -> None:
        result = measure_task.enqueue(measurement_id=measurement_id)
        # Which task holds it: a queued measurement without one was never handed over (see recovery).
        Measurement.objects.filter(pk=measurement_id).update(task_id=str(result.id))

    transaction.on_commit(enqueue)


def worker_identity() -> str:
    """Which process runs a measurement (host:pid@start): how a dead worker's measurement is recognised.

    The start (see process_start) tells a process from a later one given the same id: a container's
    worker is process 1 again after its restart, on the same host name.
    """
    return f"{socket.gethostname()}:{os.getpid()}@{process_start(os.getpid())}"


def process_start(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot (Linux's /proc/<pid>/stat, field 22);
    empty where there is no /proc or no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]  # the fields after the command's name start at field 3


def measurement_remeasure(*, measurement: Measurement, request: ThresholdRequest) -> Measurement:
    """Measure the same volume again at another threshold; the earlier measurement is kept.

    When the series' histograms are stored (and, for body only, the body's) this is arithmetic on
    them and runs at once; otherwise (the first measurement has not finished, or the body has not
    been found yet) the new one is queued.
    """
    again = Measurement(
        series=measurement.series,
        mode=request.mode,
        threshold_requested=request.value,
        threshold_upper_requested=request.upper,
        body_only=request.body_only,
    )
    again.full_clean()
    again.save()
    series = measurement.series
    if series.histogram and (not request.body_only or series.body_histogram):
        return measurement_run(measurement=again)
    measurement_enqueue(measurement=again)
    return again


def measurement_run(*, measurement: Measurement) -> Measurement:
    """Measure: histograms of the series (read once, then kept), the threshold, the volume, the picture."""
    measurement.state = Measurement.State.RUNNING
    measurement.started_at = timezone.now()
    measurement.error_message = ""
    measurement.worker = worker_identity()
    measurement.attempts += 1
    measurement.save(update_fields=["state", "started_at", "error_message", "worker", "attempts"])
    try:
        histogram = series_histogram(series=measurement.series)
        request = measurement.threshold_request()
        inside = None
        if request.body_only:
            histogram = series_body_histogram(series=measurement.series, histogram=histogram)
            inside = preview_inside(stored_body(measurement.series), histogram)
        result, above = measure_histogram(histogram, request)
        picture = preview_png(histogram, above, inside)
    except MeasurementError as error:
        return measurement_fail(measurement=measurement, message=str(error))
    except Exception:
        logger.exception("measurement %s failed", measurement.pk)
        return measurement_fail(measurement=measurement, message=INTERNAL_ERROR_MESSAGE)
    # The result is kept whole; the columns hold only what lists, sorts and filters use.
    measurement.result = result.as_dict()
    measurement.threshold = result.threshold
    measurement.voxels_above = result.voxels_above
    measurement.volume_mm3 = result.volume_mm3
    if measurement.thumbnail:
        measurement.thumbnail.delete(save=False)
    measurement.thumbnail.save(f"measurement-{measurement.pk}.png", ContentFile(picture), save=False)
    measurement.state = Measurement.State.DONE
    measurement.finished_at = timezone.now()
    measurement.full_clean()
    measurement.save()
    return measurement


def measurement_fail(*, measurement: Measurement, message: str) -> Measurement:
    measurement.state = Measurement.State.FAILED
    measurement.error_message = message
    measurement.finished_at = timezone.now()
    measurement.save(update_fields=["state", "error_message", "finished_at"])
    return measurement


def series_histogram(*, series: Series) -> VolumeHistogram:
    """The series' histograms: loaded when stored, else built from its files (reading every pixel once)."""
    if series.histogram:
        with series.histogram.open("rb") as f:
            return VolumeHistogram.load(f)
    with instances_on_disk(series.instances.all()) as sources:
        read = read_images(sources, decode_processes(), histograms=True)
        images = read.images
        unreadable = [f"{skipped.name}: {skipped.reason}" for skipped in read.skipped]
        if not images:
            raise MeasurementError("none of the series' stored files can be read: " + "; ".join(unreadable[:3]))
        histogram = histogram_volume(series_volume(series=series, images=images), processes=decode_processes())
    if unreadable:
        histogram = replace(histogram, warnings=(*histogram.warnings, *(f"left out {text}" for text in unreadable)))
    series.histogram.save(f"series-{series.pk}.npz", ContentFile(histogram.to_bytes()), save=False)
    series.save(update_fields=["histogram"])
    return histogram


def measurement_rerun(*, measurement: Measurement) -> Measurement:
    """Queue a measurement again (admin): for one stuck or failed, or after the files were replaced."""
    measurement.state = Measurement.State.QUEUED
    measurement.error_message = ""
    measurement.attempts = 0
    measurement.retry_reason = ""
    measurement.save(update_fields=["state", "error_message", "attempts", "retry_reason"])
    measurement_enqueue(measurement=measurement)
    return measurement
