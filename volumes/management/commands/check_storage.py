"""`manage.py check_storage [--repair] [--min-age SECONDS]`: what a crash left in storage, and its repair."""
import sys

from django.core.management.base import BaseCommand

from volumes import services


class Command(BaseCommand):
    help = (
        "Compare media files with their rows and the staging folder: files without rows, rows without "
        "files, uploads left half-way. Reports only, unless --repair."
    )

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="fix what is found (default: only report it)")
        parser.add_argument(
            "--min-age",
            type=float,
            default=services.DEFAULT_MIN_AGE_SECONDS,
            help="leave files younger than this many seconds alone (in-flight uploads); default %(default)s",
        )

    def handle(self, *args, **options):
        report = services.storage_check(repair=options["repair"], min_age_seconds=options["min_age"])
        for line in services.storage_report_lines(report, repaired=options["repair"]):
            self.stdout.write(line)
        if report.problems and not options["repair"]:
            sys.exit(1)
