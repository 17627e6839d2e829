"""The history: finding a user's measurements, writing them as CSV or JSON, deleting them with their files."""
from __future__ import annotations

import csv
import datetime
from dataclasses import dataclass

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q, QuerySet

from ..models import Instance, Measurement, Series, Study, Upload
from ..figures import plain_figures

SORTS = {
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
    "largest": (F("volume_mm3").desc(nulls_last=True), "-id"),
    "smallest": (F("volume_mm3").asc(nulls_last=True), "-id"),
}
"""How the history can be sorted: by the date measured or by the volume (`volume_mm3` column)."""

CSV_FIELDS = (
    "id", "measured_at", "state", "study_date", "study_description", "study_instance_uid", "series_number",
    "series_description", "modality", "series_instance_uid", "slices", "mode", "threshold_normalized",
    "threshold_modality", "voxels_above", "total_voxels", "volume_mm3", "volume_ml", "volume_unavailable_reason",
    "warnings", "url",
)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""Text cells starting with these are read as formulas by spreadsheets; DICOM descriptions are untrusted."""


@dataclass(frozen=True)
class HistoryQuery:
    """What the history is narrowed to: words (in the descriptions, a modality, the start of a UID, or a
    date: the study's or the measuring day), a modality, a study date range; and its order."""

    text: str = ""
    modality: str = ""
    study_date_from: datetime.date | None = None
    study_date_to: datetime.date | None = None
    sort: str = "newest"


def measurements_search(*, user, query: HistoryQuery) -> QuerySet[Measurement]:
    """The user's measurements matching `query`, in its order. Every word must match somewhere."""
    measurements = Measurement.objects.for_user(user).with_series()
    for word in query.text.split():
        matches = (
            Q(series__description__icontains=word)
            | Q(series__study__description__icontains=word)
            | Q(series__modality__iexact=word)
            | Q(series__series_instance_uid__startswith=word)
            | Q(series__study__study_instance_uid__startswith=word)
        )
        day = parse_day(word)
        if day:
            matches |= Q(series__study__study_date=day) | Q(created_at__date=day)
        measurements = measurements.filter(matches)
    if query.modality:
        measurements = measurements.filter(series__modality__iexact=query.modality)
    if query.study_date_from:
        measurements = measurements.filter(series__study__study_date__gte=query.study_date_from)
    if query.study_date_to:
        measurements = measurements.filter(series__study__study_date__lte=query.study_date_to)
    return measurements.order_by(*SORTS.get(query.sort, SORTS["newest"]))


def parse_day(word: str) -> datetime.date | None:
    """A word that is a date (2015-02-06, or DICOM's 20150206): searched as the study or measuring day."""
    for pattern in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.datetime.strptime(word, pattern).date()
        except ValueError:
            continue
    return None


def modalities_of(*, user) -> list[str]:
    """The modalities the user has measured, for the filter's choices."""
    return sorted(
        Series.objects.filter(study__owner=user).exclude(modality="").order_by().values_list("modality", flat=True).distinct()
    )


# --- writing it out -------------------------------------------------------------------------------


def measurement_document(*, measurement: Measurement, url: str = "") -> dict:
    """One measurement as a JSON document: which study and series, the request, and every figure."""
    series = measurement.series
    study = series.study
    document = {
        "id": measurement.pk,
        "url": url,
        "state": measurement.state,
        "error_message": measurement.error_message or None,
        "measured_at": measurement.created_at.isoformat(),
        "study": {
            "study_instance_uid": study.study_instance_uid,
            "description": study.description,
            "study_date": study.study_date.isoformat() if study.study_date else None,
        },
        "series_number": series.series_number,
        "part": series.part or None,
        "threshold_requested": measurement.threshold_requested,
    }
    if measurement.state == Measurement.State.DONE:
        document.update(measurement.result_dict())
    return document


def measurements_write_csv(*, measurements, stream, url_of) -> None:
    """Write one CSV row per measurement to a text stream; `url_of(measurement)` gives its page's address."""
    writer = csv.writer(stream)
    writer.writerow(CSV_FIELDS)
    for m in measurements:
        series, study, result = m.series, m.series.study, m.result_dict()
        volume_mm3, volume_ml, threshold_modality = plain_figures(m.volume_mm3, result.get("threshold_modality"))
        writer.writerow(
            [
                m.pk, m.created_at.isoformat(), m.state, study.study_date.isoformat() if study.study_date else "",
                safe_text(study.description), study.study_instance_uid, blank(series.series_number),
                safe_text(series.display_description), safe_text(series.modality), series.series_instance_uid,
                blank(result.get("slices")), m.mode, "" if m.threshold is None else f"{m.threshold:.4g}", threshold_modality,
                blank(m.voxels_above), blank(result.get("total_voxels")), volume_mm3, volume_ml,
                safe_text(result.get("volume_unavailable_reason") or ""), safe_text(" | ".join(result.get("warnings", []))),
                url_of(m),
            ]
        )


def blank(value) -> object:
    return "" if value is None else value


def safe_text(text: str) -> str:
    """Text as a spreadsheet shows it, never as a formula it runs (a leading apostrophe)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


# --- deleting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deletion:
    """What deleting would remove: the measurements, the series (with their stored files) and studies."""

    measurements: list[Measurement]
    series: list[Series]
    studies: list[Study]
    files: int


def measurement_deletion(*, measurement: Measurement) -> Deletion:
    """Deleting a measurement removes its picture; the last one of a series takes the series' files too."""
    return plan_deletion([measurement])


def upload_deletion(*, upload: Upload) -> Deletion:
    """Deleting an upload removes its measurements, and the series that no other upload brought with
    all their measurements (re-measurements included) and files."""
    measurements = list(upload.measurements.select_related("series__study"))
    series_ids = {m.series_id for m in measurements}
    brought_elsewhere = set(
        Measurement.objects.filter(series_id__in=series_ids, upload__isnull=False)
        .exclude(upload=upload)
        .values_list("series_id", flat=True)
    )
    extra = Measurement.objects.filter(series_id__in=series_ids - brought_elsewhere, upload__isnull=True)
    return plan_deletion([*measurements, *extra.select_related("series__study")])


def plan_deletion(measurements: list[Measurement]) -> Deletion:
    ids = {m.pk for m in measurements}
    series = []
    for series_id in sorted({m.series_id for m in measurements}):
        if not Measurement.objects.filter(series_id=series_id).exclude(pk__in=ids).exists():
            series.append(Series.objects.select_related("study").get(pk=series_id))
    gone_series = {s.pk for s in series}
    studies = [
        study
        for study in {s.study_id: s.study for s in series}.values()
        if not study.series.exclude(pk__in=gone_series).exists()
    ]
    files = Instance.objects.filter(series__in=gone_series).count()
    return Deletion(measurements=measurements, series=series, studies=studies, files=files)


def deletion_run(*, deletion: Deletion, upload: Upload | None = None) -> None:
    """Delete the rows in one transaction, then (once committed) the files no remaining row uses."""
    names: set[str] = set()
    with transaction.atomic():
        for measurement in deletion.measurements:
            if measurement.thumbnail:
                names.add(measurement.thumbnail.name)
        series_ids = [s.pk for s in deletion.series]
        for series in deletion.series:
            if series.histogram:
                names.add(series.histogram.name)
        instance_files = set(Instance.objects.filter(series__in=series_ids).values_list("file", flat=True))
        Measurement.objects.filter(pk__in=[m.pk for m in deletion.measurements]).delete()
        Series.objects.filter(pk__in=series_ids).delete()
        Study.objects.filter(pk__in=[s.pk for s in deletion.studies]).delete()
        upload_ids = {m.upload_id for m in deletion.measurements if m.upload_id}
        if upload is not None:
            upload_ids.add(upload.pk)
        Upload.objects.filter(pk__in=upload_ids, measurements__isnull=True).delete()
        # Files are stored once per content: another series (of anyone) may hold the same file.
        still_used = set(Instance.objects.filter(file__in=instance_files).values_list("file", flat=True))
        names |= instance_files - still_used
        transaction.on_commit(lambda: delete_files(sorted(names)))


def delete_files(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def measurement_delete(*, measurement: Measurement) -> Deletion:
    deletion = measurement_deletion(measurement=measurement)
    deletion_run(deletion=deletion)
    return deletion


def upload_delete(*, upload: Upload) -> Deletion:
    deletion = upload_deletion(upload=upload)
    deletion_run(deletion=deletion, upload=upload)
    return deletion
