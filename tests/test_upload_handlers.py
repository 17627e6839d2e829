"""Receiving uploads over a real socket: a body cut short stores nothing and says so; a whole one is
streamed once into the staging folder and moved into place."""
import hashlib
import json
import os
import socket
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from volumes import services
from volumes.models import Instance, Measurement, Upload
from volumes.upload_handlers import StagingUploadHandler

from .conftest import PHANTOM_DIR, SEED_FILE, SEED_VOXELS

PASSWORD = "a-long-secret-1"


@pytest.fixture
def ada(transactional_db):
    return get_user_model().objects.create_user("ada", password=PASSWORD)


def multipart_body(paths) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for path in paths:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
            "Content-Type: application/dicom\r\n\r\n".encode() + path.read_bytes() + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), boundary


def post_raw(
    live_server, path: str, body: bytes, boundary: str, send_bytes: int, declared: int | None = None, cookie: str = ""
) -> tuple[int, bytes]:
    """POST `body` over a socket, sending only its first `send_bytes`, then half-close and read the answer."""
    host, port = live_server.thread.host, live_server.thread.port
    if cookie:
        signed_in = f"Cookie: {cookie}\r\nReferer: http://{host}:{port}/\r\n"
    else:
        _, key = services.token_create(user=get_user_model().objects.get(username="ada"), name="socket test")
        signed_in = f"Authorization: Bearer {key}\r\n"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{signed_in}"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {declared if declared is not None else len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, port), timeout=60) as conn:
        conn.sendall(head + body[:send_bytes])
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


def stored_files(media) -> list:
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def test_a_body_cut_at_60_percent_stores_nothing_and_says_so(live_server, ada, private_media):
    slices = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:28]
    body, boundary = multipart_body(slices)
    status, answer = post_raw(live_server, reverse("volumes:api-measurement-list"), body, boundary, int(len(body) * 0.6))
    assert status == 400
    message = json.loads(answer)["error"]
    assert "cut off" in message
    assert message == (
        f"Nothing was stored: the upload was cut off: {int(len(body) * 0.6):,} of its {len(body):,} bytes arrived "
        "before the connection ended: send it again."
    )
    assert Upload.objects.count() == 0 and Instance.objects.count() == 0 and Measurement.objects.count() == 0
    assert stored_files(private_media) == []


def test_a_body_cut_between_two_files_stores_nothing(live_server, ada, private_media):
    first, second = SEED_FILE, sorted(PHANTOM_DIR.glob("I1*"))[0]
    body, boundary = multipart_body([first, second])
    end_of_first = body.index(f"--{boundary}".encode(), 10)
    status, answer = post_raw(live_server, reverse("volumes:api-measurement-list"), body, boundary, end_of_first)
    assert status == 400
    assert "cut off" in json.loads(answer)["error"]
    assert Upload.objects.count() == 0
    assert stored_files(private_media) == []


def test_a_body_without_its_final_boundary_is_cut_even_when_its_length_matches(live_server, ada, private_media):
    body, boundary = multipart_body([SEED_FILE])
    truncated = body[: -len(f"--{boundary}--\r\n")]
    status, answer = post_raw(live_server, reverse("volumes:api-measurement-list"), truncated, boundary, len(truncated))
    assert status == 400
    assert "cut off" in json.loads(answer)["error"]
    assert Upload.objects.count() == 0


def test_a_cut_body_through_the_page_gets_the_message_on_the_form(live_server, ada, private_media, client):
    client.force_login(ada)
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={'x' * 32}"
    body, boundary = multipart_body([SEED_FILE])
    status, answer = post_raw(live_server, reverse("volumes:upload"), body, boundary, len(body) // 2, cookie=cookie)
    assert status == 400
    page = answer.decode()
    assert "Nothing was stored: the upload was cut off" in page
    assert 'id="upload-form"' in page  # the form, to send it again
    assert Upload.objects.count() == 0
    assert stored_files(private_media) == []


def test_a_whole_body_over_the_socket_is_measured(live_server, ada, private_media):
    body, boundary = multipart_body([SEED_FILE])
    status, answer = post_raw(live_server, reverse("volumes:api-measurement-list"), body, boundary, len(body))
    assert status == 202, answer[:300]
    measurement = Measurement.objects.get()
    assert measurement.state == Measurement.State.DONE
    assert measurement.voxels_above == SEED_VOXELS
    instance = Instance.objects.get()
    assert (private_media / instance.file.name).is_file()
    assert not any((private_media / "staging").rglob("*.part"))


def record_staged_inodes(monkeypatch) -> list[int]:
    """The inodes of the files the upload handler wrote: each uploaded file, or a zip's split-out entries."""
    inodes = []
    real_complete = StagingUploadHandler.file_complete

    def recording_complete(self, file_size):
        file = real_complete(self, file_size)
        if file.split_entries is None:
            inodes.append(os.stat(file.temporary_file_path()).st_ino)
        else:
            inodes.extend(os.stat(entry.path).st_ino for entry in file.split_entries.values())
        return file

    monkeypatch.setattr(StagingUploadHandler, "file_complete", recording_complete)
    return inodes


def seed_stored_by(client, username: str, capture_on_commit) -> None:
    """A new user uploads the seed slice through the API; its files are placed as the commit places them."""
    client.force_login(get_user_model().objects.create_user(username, password=PASSWORD))
    with capture_on_commit(execute=True):
        response = client.post(
            reverse("volumes:api-measurement-list"), {"files": [SimpleUploadedFile("a.dcm", SEED_FILE.read_bytes())]}
        )
    assert response.status_code == 202


@pytest.mark.django_db
def test_uploaded_files_are_hashed_as_they_arrive_and_moved_not_copied(
    client, django_capture_on_commit_callbacks, private_media, monkeypatch
):
    staged_inodes = record_staged_inodes(monkeypatch)
    seed_stored_by(client, "bob", django_capture_on_commit_callbacks)
    instance = Instance.objects.get()
    assert instance.sha256 == hashlib.sha256(SEED_FILE.read_bytes()).hexdigest()
    assert instance.file.name == f"instances/{instance.sha256[:2]}/{instance.sha256}.dcm"
    stored = private_media / instance.file.name
    assert staged_inodes == [stored.stat().st_ino]  # renamed into place: the same bytes on disk, not a copy
    assert stored.stat().st_mode & 0o777 == 0o600
    assert [p for p in (private_media / "staging").rglob("*") if p.is_file()] == []


@pytest.mark.django_db
def test_a_stored_zips_entries_are_written_once_as_they_arrive_and_a_deflated_one_is_extracted(
    client, django_capture_on_commit_callbacks, private_media, monkeypatch
):
    import io
    import zipfile

    slices = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in slices[:-1]:
            archive.write(path, f"series/{path.name}", compress_type=zipfile.ZIP_STORED)
        archive.write(slices[-1], f"series/{slices[-1].name}", compress_type=zipfile.ZIP_DEFLATED)
    staged_inodes = record_staged_inodes(monkeypatch)
    client.force_login(get_user_model().objects.create_user("bo", password=PASSWORD))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("volumes:api-measurement-list"), {"files": [SimpleUploadedFile("series.zip", buffer.getvalue())]}
        )
    assert response.status_code == 202, response.content[:300]
    assert response.json()["skipped_count"] == 0
    stored = {row.original_name: row for row in Instance.objects.all()}
    assert sorted(stored) == [f"series.zip/series/{path.name}" for path in slices]
    for path in slices:
        row = stored[f"series.zip/series/{path.name}"]
        assert row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert (private_media / row.file.name).read_bytes() == path.read_bytes()
    inodes = [(private_media / stored[f"series.zip/series/{path.name}"].file.name).stat().st_ino for path in slices]
    assert sorted(staged_inodes) == sorted(inodes[:-1])  # the stored entries: written once, then renamed
    assert Measurement.objects.get().state == Measurement.State.DONE
    assert [p for p in (private_media / "staging").rglob("*") if p.is_file()] == []


@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["volumes:upload", "volumes:api-measurement-list"])
def test_too_many_files_get_a_message_that_names_the_limit(client, settings, url_name):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    client.force_login(get_user_model().objects.create_user("cy", password=PASSWORD))
    files = [SimpleUploadedFile(f"f{i}.dcm", b"x") for i in range(6)]
    response = client.post(reverse(url_name), {"files": files})
    assert response.status_code == 400
    text = response.content.decode()
    assert "at most 5 files (VOLUMES_MAX_UPLOAD_FILES)" in text
    assert "Bad Request (400)" not in text
    assert Upload.objects.count() == 0


@pytest.mark.django_db
def test_too_many_files_through_the_page_with_its_csrf_check(settings):
    """A browser's form goes through the CSRF check, which reads the body before the view."""
    from django.test import Client

    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
    client = Client(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.create_user("dee", password=PASSWORD))
    client.get(reverse("volumes:upload"))
    files = [SimpleUploadedFile(f"f{i}.dcm", b"x") for i in range(6)]
    response = client.post(reverse("volumes:upload"), {"files": files, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert response.status_code == 400
    assert "at most 5 files (VOLUMES_MAX_UPLOAD_FILES)" in response.content.decode()


@pytest.mark.django_db
def test_skipped_files_are_kept_bounded_whatever_was_uploaded(client, django_capture_on_commit_callbacks, tmp_path):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3000):
            archive.writestr(f"junk/{i:05}.txt", b"not dicom")
        archive.writestr("seed/1-101.dcm", SEED_FILE.read_bytes())
    client.force_login(get_user_model().objects.create_user("eve", password=PASSWORD))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("volumes:api-measurement-list"), {"files": [SimpleUploadedFile("junk.zip", buffer.getvalue())]})
    assert response.status_code == 202
    body = response.json()
    assert body["skipped_count"] == 3000
    assert body["skipped_reasons"] == {"not a DICOM file (no DICOM preamble or header)": 3000}
    assert len(body["skipped"]) == 100 and body["skipped"][0]["file"] == "junk.zip/junk/00000.txt"
    assert len(response.content) < 20_000
    upload = Upload.objects.get()
    assert (upload.skipped_count, len(upload.skipped)) == (3000, 100)

    measurement = Measurement.objects.get()
    assert measurement.voxels_above == SEED_VOXELS
    detail = client.get(reverse("volumes:api-measurement-detail", args=[measurement.pk]))
    assert len(detail.content) < 20_000 and detail.json()["skipped_count"] == 3000
    listing = client.get(reverse("volumes:api-measurement-list"))
    assert len(listing.content) < 5_000 and "skipped" not in listing.json()["results"][0]
    page = client.get(measurement.get_absolute_url()).content.decode()
    assert "3000 files not measured" in page and "The first 100:" in page
    assert len(page) < 60_000


@pytest.mark.django_db
def test_a_rejected_upload_lists_only_the_first_hundred(client):
    client.force_login(get_user_model().objects.create_user("fay", password=PASSWORD))
    files = [SimpleUploadedFile(f"junk-{i}.txt", b"not dicom") for i in range(150)]
    response = client.post(reverse("volumes:api-measurement-list"), {"files": files})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "None of the 150 files holds an image that can be measured."
    assert body["skipped_count"] == 150 and len(body["skipped"]) == 100


@pytest.mark.django_db
@pytest.mark.parametrize(
    "kind, message",
    [
        ("encrypted", "secret.zip/a.dcm cannot be measured: encrypted inside the zip archive: send the files without a password."),
        ("truncated", "secret.zip cannot be measured: a zip archive cut short or damaged: its table of contents (central directory) is missing."),
    ],
)
def test_a_bad_zip_alone_says_what_is_wrong_with_it(client, kind, message):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.dcm", SEED_FILE.read_bytes())
    raw = bytearray(buffer.getvalue())
    if kind == "encrypted":
        raw[6] |= 1
        raw[raw.index(b"PK\x01\x02") + 8] |= 1
    else:
        raw = raw[: len(raw) // 2]
    client.force_login(get_user_model().objects.create_user("gus", password=PASSWORD))
    response = client.post(reverse("volumes:api-measurement-list"), {"files": [SimpleUploadedFile("secret.zip", bytes(raw))]})
    assert response.status_code == 400
    assert response.json()["error"] == message


@pytest.mark.django_db
def test_a_nearly_full_disk_answers_507_and_stores_nothing(client, settings, tmp_path, private_media):
    import io
    import zipfile

    settings.VOLUMES_DISK_RESERVE_BYTES = 2**62
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.dcm", SEED_FILE.read_bytes())
    client.force_login(get_user_model().objects.create_user("hal", password=PASSWORD))
    response = client.post(reverse("volumes:api-measurement-list"), {"files": [SimpleUploadedFile("a.zip", buffer.getvalue())]})
    assert response.status_code == 507
    assert "VOLUMES_DISK_RESERVE_BYTES" in response.json()["error"]
    assert Upload.objects.count() == 0
    assert stored_files(private_media) == []


@pytest.mark.django_db
def test_an_archive_of_encrypted_files_counts_them_not_zero(client):
    import io
    import re
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in ("a.dcm", "b.dcm", "c.dcm"):
            archive.writestr(name, SEED_FILE.read_bytes())
    raw = bytearray(buffer.getvalue())
    for at in [m.start() for m in re.finditer(b"PK\x03\x04", bytes(raw))]:
        raw[at + 6] |= 1
    for at in [m.start() for m in re.finditer(b"PK\x01\x02", bytes(raw))]:
        raw[at + 8] |= 1
    client.force_login(get_user_model().objects.create_user("ian", password=PASSWORD))
    response = client.post(reverse("volumes:api-measurement-list"), {"files": [SimpleUploadedFile("s.zip", bytes(raw))]})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "None of the 3 files holds an image that can be measured."
    assert body["skipped_reasons"] == {"encrypted inside the zip archive: send the files without a password": 3}


@pytest.mark.django_db
def test_a_staging_folder_on_another_disk_has_its_files_copied_into_storage(
    client, django_capture_on_commit_callbacks, private_media, monkeypatch
):
    import errno

    real_rename = os.rename

    def across_disks(source, target):
        if "instances" in str(target):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_rename(source, target)

    monkeypatch.setattr(os, "rename", across_disks)
    seed_stored_by(client, "cal", django_capture_on_commit_callbacks)
    instance = Instance.objects.get()
    stored = private_media / instance.file.name
    assert stored.read_bytes() == SEED_FILE.read_bytes()
    assert stored.stat().st_mode & 0o777 == 0o600
    assert Measurement.objects.get().voxels_above == SEED_VOXELS
    assert [p for p in (private_media / "staging").rglob("*") if p.is_file()] == []


@pytest.mark.django_db
def test_the_archives_of_one_upload_split_out_no_more_entries_than_its_budget(client, settings, monkeypatch):
    """Many zips in one body cannot make the handler write more files than unpacking would allow."""
    import io
    import zipfile

    settings.VOLUMES_ARCHIVE_MAX_ENTRIES = 5
    archives = []
    for number in range(3):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for i in range(3):
                archive.writestr(f"{number}-{i}.txt", b"not dicom")
        archives.append(SimpleUploadedFile(f"{number}.zip", buffer.getvalue()))
    split_counts = []
    real_complete = StagingUploadHandler.file_complete

    def counting_complete(self, file_size):
        file = real_complete(self, file_size)
        split_counts.append(len(file.split_entries))
        return file

    monkeypatch.setattr(StagingUploadHandler, "file_complete", counting_complete)
    client.force_login(get_user_model().objects.create_user("di", password=PASSWORD))
    response = client.post(reverse("volumes:api-measurement-list"), {"files": archives})
    assert split_counts == [3, 2, 0]
    assert response.status_code == 400
    body = response.json()
    assert body["skipped_reasons"] == {
        "not a DICOM file (no DICOM preamble or header)": 3,
        "a zip archive with more than 5 files in the archives (VOLUMES_ARCHIVE_MAX_ENTRIES): left out whole": 2,
    }
