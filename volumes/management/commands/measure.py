"""`manage.py measure PATH... [--threshold T] [--mode M] [--json]`: the service on files, no database."""
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from volumes import services
from volumes.imaging.measure import MODES, InvalidThreshold, ThresholdRequest

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
            help=f"normalised (0–1) or modality-unit threshold; default {settings.VOLUMES_THRESHOLD} (normalised)",
        )
        parser.add_argument("--mode", default="normalized", choices=MODES, help="how the threshold is given or chosen")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    def handle(self, *args, **options):
        try:
            request = ThresholdRequest.parse(options["mode"], options["threshold"], default=settings.VOLUMES_THRESHOLD)
        except InvalidThreshold as error:
            raise CommandError(str(error)) from None
        report = services.paths_measure(paths=options["paths"], request=request)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.write_text(report)
        if not report.series:
            raise SystemExit(EXIT_NOTHING_MEASURED)

    def write_text(self, report: services.PathsReport) -> None:
        for result in report.series:
            self.stdout.write(self.style.MIGRATE_HEADING(f"{result.description} ({result.modality}, {result.series_instance_uid})"))
            threshold = "—" if result.threshold is None else f"{result.threshold:.6g}"
            self.stdout.write(
                f"  {result.slices} slice(s) of {result.columns}×{result.rows}; threshold ({result.mode}) "
                f"{threshold} normalised = {result.threshold_modality:.6g} in modality units"
            )
            self.stdout.write(f"  voxels above: {result.voxels_above:,} of {result.total_voxels:,}")
            if result.volume_mm3 is None:
                self.stdout.write(self.style.WARNING(f"  volume: not available: {result.volume_unavailable_reason}"))
            else:
                self.stdout.write(f"  volume: {result.volume_mm3:,.3f} mm³ ({result.volume_ml:,.3f} mL)")
            for warning in result.warnings:
                self.stdout.write(self.style.WARNING(f"  warning: {warning}"))
        for skipped in report.skipped:
            self.stdout.write(self.style.NOTICE(f"skipped {skipped.name}: {skipped.reason}"))
