import logging

from django.apps import AppConfig


class VolumesConfig(AppConfig):
    name = "volumes"
    verbose_name = "DICOM volumetry"

    def ready(self) -> None:
        self.quiet_pydicom_log()

    @staticmethod
    def quiet_pydicom_log() -> None:
        # pydicom logs every decoder's traceback for a file it cannot decode, and sets its logger's
        # level when imported (so after LOGGING is applied); each measurement reports those files
        # and why itself. Quieted here, once pydicom is imported, in every process of the site.
        import pydicom  # noqa: F401

        logging.getLogger("pydicom").setLevel(logging.CRITICAL)
