"""`manage.py measure PATH... [--threshold T] [--mode M] [--json]`: the service on files, no database."""
import json
import warnings
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from volumes import services
from volumes.imaging.measure import (
    AUTOMATIC_MODES,
    MODES,
    InvalidThreshold,
    ThresholdRequest,
)

EXIT_NOTHING_MEASURED = 2


class Command(BaseCommand):
    help = "Measure the volume above a threshold in DICOM files, folders or .zip archives (nothing is stored)."

    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, help="DICOM files, folders or .zip archives")
        parser.add_argument(
            "--threshold",
            default=None,
            help=(
                f"normalised (0–1) threshold, or one in modality units (HU on CT) with --mode modality; "
                f"default {settings.VOLUMES_THRESHOLD} (normalised)"
            ),
        )
        parser.add_argument(
            "--mode",
            default="normalized",
            choices=MODES,
            help="how the threshold is given (normalized, modality) or chosen on the series histogram",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args, **options):
        if options["mode"] in AUTOMATIC_MODES and options["threshold"] is not None:
            raise CommandError(f"--threshold cannot be given with --mode {options['mode']}: that mode chooses it")
        try:
            request = ThresholdRequest.parse(options["mode"], options["threshold"], default=settings.VOLUMES_THRESHOLD)
        except InvalidThreshold as error:
            raise CommandError(str(error)) from None
        with quiet_pydicom():
            try:
                report = services.paths_measure(paths=options["paths"], request=request)
            except services.DiskSpaceLow as error:
                raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.write_text(report)
        if not report.series:
            raise SystemExit(EXIT_NOTHING_MEASURED)

    def write_text(self, report: services.PathsReport) -> None:
        for result in report.series:
            self.stdout.write(self.style.MIGRATE_HEADING(f"{result.description} ({result.modality}, {result.series_instance_uid})"))
            self.stdout.write(f"  {result.slices} slice(s) of {result.columns}×{result.rows}{geometry_text(result)}")
            threshold = "—" if result.threshold is None else f"{result.threshold:.6g}"
            self.stdout.write(
                f"  threshold ({result.mode}): {threshold} normalised = {result.threshold_modality:.6g} in modality units"
            )
            self.stdout.write(f"  voxels above: {result.voxels_above:,} of {result.total_voxels:,}")
            if result.volume_mm3 is None:
                self.stdout.write(self.style.WARNING(f"  volume: not available: {result.volume_unavailable_reason}"))
            else:
                self.stdout.write(self.style.SUCCESS(f"  volume: {result.volume_mm3:,.3f} mm³ ({result.volume_ml:,.3f} mL)"))
            if result.stats:
                stats = result.stats
                self.stdout.write(
                    f"  above the threshold: mean {stats['mean']:.6g}, std {stats['std']:.6g}, min {stats['min']:.6g}, "
                    f"median {stats['median']:.6g}, max {stats['max']:.6g}"
                )
            for warning in result.warnings:
                self.stdout.write(self.style.WARNING(f"  warning: {warning}"))
        for skipped in report.skipped:
            self.stdout.write(self.style.NOTICE(f"skipped {skipped.name}: {skipped.reason}"))
        self.stdout.write(f"{len(report.series)} volume(s) measured, {len(report.skipped)} file(s) skipped")


def geometry_text(result) -> str:
    """', pixel spacing r × c mm, slab w mm' with what is known of the two."""
    text = ""
    if result.pixel_spacing_mm:
        row_mm, column_mm = result.pixel_spacing_mm
        text += f", pixel spacing {row_mm:.6g} × {column_mm:.6g} mm"
    slab = result.slab_mm
    if slab:
        if f"{slab['min']:.6g}" == f"{slab['max']:.6g}":
            text += f", slab {slab['mean']:.6g} mm"
        else:
            text += f", slab {slab['min']:.6g}–{slab['max']:.6g} mm (mean {slab['mean']:.6g})"
    return text


@contextmanager
def quiet_pydicom():
    """Silence pydicom's warnings about header quirks while measuring (settings.LOGGING quiets its log).

    The command reports every file's outcome itself, so those would only bury it.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module="pydicom")
        yield
