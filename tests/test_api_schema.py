"""Schemathesis against /api/schema/: requests generated from the schema, sent in-process (WSGI, no
network) by a user with an API token and a real measured upload; no answer is a 5xx and every answer
(status, content type, headers, body) is one the schema documents."""
from dataclasses import dataclass

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dicomsite.wsgi import application
from volumes import services
from volumes.imaging.thresholds import ThresholdRequest
from volumes.models import Measurement

from .conftest import SEED_FILE, SEED_VOXELS

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Seeded:
    key: str
    measurement_id: int


@pytest.fixture(autouse=True)
def connection_kept_between_requests():
    """The requests go straight to the WSGI application, whose end closes the database connection:
    inside the test's transaction that loses it (PostgreSQL). Django's test client keeps it the same way."""
    signals = (request_started, request_finished)
    for signal in signals:
        signal.disconnect(close_old_connections)
    yield
    for signal in signals:
        signal.connect(close_old_connections)


@pytest.fixture
def seeded(db, django_capture_on_commit_callbacks) -> Seeded:
    """A user with an API token and the seed file uploaded and measured."""
    user = get_user_model().objects.create_user("fuzz", password="a-long-secret-9")
    with django_capture_on_commit_callbacks(execute=True):
        upload = services.upload_ingest(
            owner=user,
            files=[SimpleUploadedFile("1-101.dcm", SEED_FILE.read_bytes())],
            request=ThresholdRequest(mode="normalized", value=0.5),
        )
    measurement = Measurement.objects.get(upload=upload)
    assert measurement.voxels_above == SEED_VOXELS
    _, key = services.token_create(user=user, name="schemathesis")
    return Seeded(key=key, measurement_id=measurement.pk)


# The schema as the site serves it, loaded while the tests are collected: its view is throttled like the
# rest, so its count goes to memory (no test database is open yet).
with override_settings(CACHES={**django_settings.CACHES, "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_generated_request_gets_an_answer_the_schema_documents(case, seeded):
    for name, real in (("id", seeded.measurement_id), ("number", 1)):
        if name not in (case.path_parameters or {}):
            continue
        generated = case.path_parameters[name]
        if not isinstance(generated, int) or generated < 0:
            # not a URL our patterns match (<int:pk>): Django answers its HTML 404 before the API is reached
            case.path_parameters[name] = len(str(generated))
        elif generated % 2 == 0:
            case.path_parameters[name] = real  # half the requests reach the real measurement (and its slice)
    response = case.call(headers={"Authorization": f"Bearer {seeded.key}"})
    case.validate_response(response, checks=CHECKS)
