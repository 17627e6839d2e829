"""Under load, pages first: a web process unpacks and stores one upload at a time (VOLUMES_UPLOADS_AT_ONCE)
while its other threads keep answering pages; `bench/load.py` measures what that buys."""
import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from volumes.models import Upload
from volumes.services import uploads

from .conftest import SEED_FILE


@pytest.fixture
def signed_in(transactional_db):
    user = get_user_model().objects.create_user("ada", password="an-unguessable-password")

    def client() -> Client:
        c = Client()
        c.force_login(user)
        return c

    return client


def test_an_upload_waits_for_the_one_being_stored_while_pages_answer(signed_in, monkeypatch):
    entered: list[str] = []
    release = threading.Event()
    first_inside = threading.Event()
    real_scan = uploads.sources_scan

    def held_scan(*, sources, workdir):
        entered.append(sources[0].name)
        if sources[0].name == "first.dcm":
            first_inside.set()
            assert release.wait(60)
        return real_scan(sources=sources, workdir=workdir)

    monkeypatch.setattr(uploads, "sources_scan", held_scan)
    answers: dict[str, int] = {}

    def upload(name: str) -> None:
        with open(SEED_FILE, "rb") as f:
            data = f.read()
        response = signed_in().post(reverse("volumes:api-measurement-list"), {"files": SimpleUploadedFile(name, data)})
        answers[name] = response.status_code

    first = threading.Thread(target=upload, args=("first.dcm",))
    first.start()
    assert first_inside.wait(60)
    second = threading.Thread(target=upload, args=("second.dcm",))
    second.start()
    second.join(timeout=1.0)

    # The first holds the turn: the second has its bytes received but waits; a page answers meanwhile.
    assert second.is_alive() and entered == ["first.dcm"]
    assert signed_in().get(reverse("volumes:measurement-list")).status_code == 200

    release.set()
    first.join(60)
    second.join(60)
    assert entered == ["first.dcm", "second.dcm"]
    assert answers == {"first.dcm": 202, "second.dcm": 202}
    assert Upload.objects.count() == 2
