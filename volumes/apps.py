import logging

from django.apps import AppConfig
from django.core.management import call_command


class VolumesConfig(AppConfig):
    name = "volumes"
    verbose_name = "DICOM volumetry"

    def ready(self) -> None:
        self.quiet_pydicom_log()
        from django.db.models.signals import post_migrate  # here: `manage.py measure` uses this module without the ORM

        post_migrate.connect(create_cache_tables, sender=self)

    @staticmethod
    def quiet_pydicom_log() -> None:
        # pydicom logs every decoder's traceback for a file it cannot decode, and sets its logger's
        # level when imported (so after LOGGING is applied); each measurement reports those files
        # and why itself. Quieted here, once pydicom is imported, in every process of the site.
        import pydicom  # noqa: F401

        logging.getLogger("pydicom").setLevel(logging.CRITICAL)


def create_cache_tables(using: str, verbosity: int = 1, **kwargs) -> None:
    """After `migrate`: the tables of the database caches (the API's throttle counts), if missing, so that
    the one command every deployment runs (make run, docker compose, CI) sets them up."""
    call_command("createcachetable", database=using, verbosity=verbosity)
