"""`manage.py measure PATH... [--threshold T] [--mode M] [--upper U] [--body-only] [--json]`: the service on files, no database."""
import json
import warnings
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.module_loading import import_string

from volumes import services
from volumes.apps import VolumesConfig
from volumes.imaging.export import MaskFiles
from volumes.figures import ml, mm3, modality_value
from volumes.imaging.thresholds import (
    AUTOMATIC_MODES,
    MODES,
    InvalidThreshold,
    ThresholdRequest,
)

EXIT_NOTHING_MEASURED = 2


def run_without_apps(argv: list[str]) -> None:
    """`manage.py measure ...` with the settings and their LOGGING, without `django.setup()`: the
    command touches no model (`services.paths_measure` reads files and measures), so the apps, the
    ORM and admin are not loaded, nor Django's default logging (whose handler for mailing request
    errors to the admins imports the views). Errors and exit statuses are those of manage.py."""
    if settings.LOGGING_CONFIG:
        import_string(settings.LOGGING_CONFIG)(settings.LOGGING)
    VolumesConfig.quiet_pydicom_log()
    Command().run_from_argv(argv)


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
        parser.add_argument(
            "--upper",
            default=None,
            help="upper bound, in the threshold's units: count the voxels above --threshold and at most this (a range)",
        )
        parser.add_argument(
            "--body-only",
            action="store_true",
            help="count only the voxels inside the body (the largest connected part, each time point's own in a time series: the couch and the air left out)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        parser.add_argument(
            "--seg", type=Path, metavar="FILE",
            help="write the counted voxels as a DICOM SEG referencing the source images (FILE-1, FILE-2… with several volumes)",
        )
        parser.add_argument(
            "--nifti", type=Path, metavar="FILE",
            help="write the counted voxels as NIfTI, e.g. mask.nii.gz (numbered likewise with several volumes)",
        )

    def handle(self, *args, **options):
        if options["mode"] in AUTOMATIC_MODES and options["threshold"] is not None:
            raise CommandError(f"--threshold cannot be given with --mode {options['mode']}: that mode chooses it")
        try:
            request = ThresholdRequest.from_fields(options, settings.VOLUMES_THRESHOLD)
        except InvalidThreshold as error:
            raise CommandError(str(error)) from None
        masks = None
        if options["seg"] or options["nifti"]:
            masks = MaskFiles(seg=options["seg"], nifti=options["nifti"])
        with quiet_pydicom():
            try:
                report = services.paths_measure(paths=options["paths"], request=request, masks=masks)
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
                f"  threshold ({result.mode}): {threshold} normalised = {modality_value(result.threshold_modality)} in modality units"
            )
            if result.threshold_upper_modality is not None:
                self.stdout.write(f"  upper bound: at most {modality_value(result.threshold_upper_modality)} in modality units")
            if result.body_only:
                self.stdout.write("  body only: the couch and the air left out")
            self.stdout.write(f"  voxels above: {result.voxels_above:,} of {result.total_voxels:,}{' inside the body' if result.body_only else ''}")
            if result.volume_mm3 is None:
                self.stdout.write(self.style.WARNING(f"  volume: not available: {result.volume_unavailable_reason}"))
            else:
                self.stdout.write(self.style.SUCCESS(f"  volume: {mm3(result.volume_mm3)} mm³ ({ml(result.volume_mm3)} mL)"))
            if result.stats:
                stats = result.stats
                self.stdout.write(
                    f"  above the threshold: mean {modality_value(stats['mean'])}, std {modality_value(stats['std'])}, "
                    f"min {modality_value(stats['min'])}, median {modality_value(stats['median'])}, max {modality_value(stats['max'])}"
                )
            if len(result.time_points) > 1:
                self.write_time_points(result.time_points)
            for warning in result.warnings:
                self.stdout.write(self.style.WARNING(f"  warning: {warning}"))
        for export in report.exports or []:
            if export["error"]:
                self.stdout.write(self.style.ERROR(f"mask of {export['description']} not written: {export['error']}"))
            for path in export["files"]:
                self.stdout.write(f"mask of {export['description']} written to {path}")
        by_reason: dict[str, list[str]] = {}
        for skipped in report.skipped:
            by_reason.setdefault(skipped.reason, []).append(skipped.name)
        for reason, names in by_reason.items():  # a refused volume: its reason once, then its files
            if len(names) == 1:
                self.stdout.write(self.style.NOTICE(f"skipped {names[0]}: {reason}"))
            else:
                self.stdout.write(self.style.NOTICE(f"skipped {len(names)} files: {reason}"))
                self.stdout.write("\n".join(f"    {name}" for name in names))
        self.stdout.write(f"{len(report.series)} volume(s) measured, {len(report.skipped)} file(s) skipped")


    def write_time_points(self, points) -> None:
        """One line per time point (the figures above are the first's), then the largest and smallest."""
        self.stdout.write(f"  {len(points)} time points (the figures above are time point 1's):")
        for point in points:
            self.stdout.write(f"    {point['index']:>4}  {time_text(point):<24} {point_text(point)}")
        key = "volume_mm3" if all(p["volume_mm3"] is not None for p in points) else "voxels_above"
        largest = max(points, key=lambda p: (p[key], -p["index"]))
        smallest = min(points, key=lambda p: (p[key], p["index"]))
        self.stdout.write(
            f"  largest at time point {largest['index']}: {point_text(largest)}; "
            f"smallest at time point {smallest['index']}: {point_text(smallest)}"
        )


def time_text(point: dict) -> str:
    if point.get("trigger_time_ms") is not None:
        return f"{point['trigger_time_ms']:g} ms after the trigger"
    if point.get("temporal_position") is not None:
        return f"temporal position {point['temporal_position']}"
    if point.get("acquisition_number") is not None:
        return f"acquisition {point['acquisition_number']}"
    return ""


def point_text(point: dict) -> str:
    volume = "no volume" if point["volume_mm3"] is None else f"{mm3(point['volume_mm3'])} mm³"
    return f"{point['voxels_above']:,} voxels, {volume}"


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
