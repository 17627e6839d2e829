from django.apps import AppConfig


class VolumesConfig(AppConfig):
    name = "volumes"
    verbose_name = "DICOM volumetry"
