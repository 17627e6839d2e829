"""Background work through Django's Tasks API: fetch by id, call the service."""
from django_tasks import task

from . import services
from .models import Measurement


@task()
def measure_task(measurement_id: int) -> None:
    measurement = Measurement.objects.with_series().get(pk=measurement_id)
    services.measurement_run(measurement=measurement)
