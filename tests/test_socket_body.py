"""Uploads through gunicorn, as `make run` serves them: the body is read straight from gunicorn's socket
(volumes/socket_body.py). Every byte arrives, the connection carries on with the next request as if
gunicorn had read the body, and a body cut short stores nothing."""
import hashlib
import http.client
import io
import json
import socket
import uuid
import zipfile
from contextlib import ExitStack
from pathlib import Path

import pytest

from .conftest import PHANTOM_DIR, SEED_FILE, SEED_VOXELS
from .gunicorn_server import database_environment, manage, token_for_new_user, web_server

UPLOADS = "/api/measurements/"


@pytest.fixture
def server(tmp_path):
    """A gunicorn server on a database of the test's own; yields (base URL, API key, environment)."""
    with ExitStack() as stack:
        env = stack.enter_context(database_environment(tmp_path))
        manage(env, "migrate", "--noinput", "-v", "0")
        key = token_for_new_user(env, "ada")
        yield stack.enter_context(web_server(env)), key, env


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        for name, data in files
    )
    return body + f"--{boundary}--\r\n".encode(), boundary


def upload_head(base: str, key: str, boundary: str, length: int, extra: str = "") -> bytes:
    return (
        f"POST {UPLOADS} HTTP/1.1\r\nHost: {base.removeprefix('http://')}\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {length}\r\n{extra}\r\n"
    ).encode()


def stored(env: dict) -> list[dict]:
    """Every stored instance: its original name, SHA-256 and the bytes of its file in storage."""
    script = (
        "import json; from volumes.models import Instance; "
        "print(json.dumps([{'name': i.original_name, 'sha256': i.sha256, 'bytes': i.file.read().hex()} "
        "for i in Instance.objects.order_by('original_name')]))"
    )
    return json.loads(manage(env, "shell", "-c", script).strip().splitlines()[-1])


def counts(env: dict) -> list[int]:
    script = (
        "from volumes.models import Upload, Instance, Measurement; "
        "print(Upload.objects.count(), Instance.objects.count(), Measurement.objects.count())"
    )
    return [int(n) for n in manage(env, "shell", "-c", script).split()[-3:]]


def test_a_zip_and_a_file_read_from_the_socket_arrive_whole_and_the_connection_carries_on(server):
    base, key, env = server
    slices = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:3]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in slices:
            zf.writestr(f"phantom/{path.name}", path.read_bytes())
    body, boundary = multipart([("phantom.zip", archive.getvalue()), ("seed.dcm", SEED_FILE.read_bytes())])
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    connection.request("POST", UPLOADS, body=body, headers={
        "Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={boundary}",
    })
    answer = connection.getresponse()
    assert answer.status == 202, answer.read()[:500]
    assert len(json.loads(answer.read())["measurements"]) == 2
    local_port = connection.sock.getsockname()[1]
    connection.request("GET", UPLOADS, headers={"Authorization": f"Bearer {key}"})
    listing = connection.getresponse()
    assert listing.status == 200 and json.loads(listing.read())["count"] == 2
    assert connection.sock.getsockname()[1] == local_port, "the connection was not kept for the next request"
    connection.close()

    sources = {**{path.name: path.read_bytes() for path in slices}, "seed.dcm": SEED_FILE.read_bytes()}
    instances = stored(env)
    assert sorted(i["name"].rsplit("/", 1)[-1] for i in instances) == sorted(sources)
    for instance in instances:
        data = sources[instance["name"].rsplit("/", 1)[-1]]
        assert bytes.fromhex(instance["bytes"]) == data
        assert instance["sha256"] == hashlib.sha256(data).hexdigest()

    manage(env, "measure_worker", "--batch", "--no-reload")
    measurements = json.loads(manage(env, "shell", "-c", (
        "import json; from volumes.models import Measurement; "
        "print(json.dumps(sorted((m.state, m.voxels_above) for m in Measurement.objects.all())))"
    )).strip().splitlines()[-1])
    assert ["done", SEED_VOXELS] in measurements


def test_a_request_sent_right_behind_a_small_body_is_answered_too(server):
    """Gunicorn received the body and the next request in one piece: the body is taken from what it
    holds, the next request left to it."""
    base, key, _ = server
    body, boundary = multipart([("notes.txt", b"not an image")])
    following = f"GET {UPLOADS} HTTP/1.1\r\nHost: {base.removeprefix('http://')}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=120) as conn:
        conn.sendall(upload_head(base, key, boundary, len(body)) + body + following.encode())
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    first, rest = read_response(received)
    second, rest = read_response(rest)
    assert first[0] == 400 and "notes.txt cannot be measured" in json.loads(first[1])["error"]
    assert second[0] == 200 and json.loads(second[1])["count"] == 0
    assert rest == b""


def read_response(data: bytes) -> tuple[tuple[int, bytes], bytes]:
    """The first HTTP response in `data` (status, body by its Content-Length) and what follows it."""
    head, _, after = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
    return (int(lines[0].split(b" ", 2)[1]), after[:length]), after[length:]


def test_a_body_cut_off_stores_nothing_and_says_how_much_arrived(server):
    base, key, env = server
    slices = sorted(p for p in PHANTOM_DIR.iterdir() if p.name.startswith("I"))[:12]
    body, boundary = multipart([(path.name, path.read_bytes()) for path in slices])
    sent = int(len(body) * 0.6)
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=120) as conn:
        conn.sendall(upload_head(base, key, boundary, len(body)) + body[:sent])
        conn.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    (status, answer), _ = read_response(received)
    assert status == 400
    assert json.loads(answer)["error"] == (
        f"Nothing was stored: the upload was cut off: {sent:,} of its {len(body):,} bytes arrived "
        "before the connection ended: send it again."
    )
    assert counts(env) == [0, 0, 0]
    media = Path(env["VOLUMES_VAR_DIR"]) / "media"
    assert [p for p in media.rglob("*") if p.is_file()] == []


def gunicorn_body(sock, length: int, held: bytes = b""):
    """Gunicorn's own body reader of a `length`-byte body on `sock`, holding `held` already received."""
    from gunicorn.http.body import Body, LengthReader
    from gunicorn.http.unreader import SocketUnreader

    unreader = SocketUnreader(sock)
    unreader.unread(held)
    return Body(LengthReader(unreader, length))


def test_the_socket_body_takes_what_gunicorn_holds_then_the_socket_and_keeps_its_count():
    from volumes.socket_body import GunicornSocketBody

    client, server_side = socket.socketpair()
    with client, server_side:
        body = gunicorn_body(server_side, 10, held=b"abcd")
        client.sendall(b"efghij" + b"GET / HTTP/1.1")  # the body's last 6 bytes, then the next request
        reader = GunicornSocketBody.of({"wsgi.input": body, "gunicorn.socket": server_side}, 10)
        assert bytes(reader.read(3)) + bytes(reader.read(100)) == b"abcdefghij"
        assert reader.read(100) == b"" and body.reader.length == 0 and not body.failed
        assert body.reader.unreader.read(14) == b"GET / HTTP/1.1"  # left for gunicorn


def test_the_socket_body_leaves_a_next_request_it_holds_to_gunicorn():
    from volumes.socket_body import GunicornSocketBody

    client, server_side = socket.socketpair()
    with client, server_side:
        body = gunicorn_body(server_side, 4, held=b"bodyGET /next")
        reader = GunicornSocketBody.of({"wsgi.input": body, "gunicorn.socket": server_side}, 4)
        assert bytes(reader.read(100)) == b"body" and reader.read(1) == b""
        assert body.reader.unreader.read(9) == b"GET /next"


def test_a_client_that_stops_early_gives_a_short_body_and_the_connection_is_not_reused():
    from volumes.socket_body import GunicornSocketBody

    client, server_side = socket.socketpair()
    with client, server_side:
        body = gunicorn_body(server_side, 10)
        client.sendall(b"1234")
        client.shutdown(socket.SHUT_WR)
        reader = GunicornSocketBody.of({"wsgi.input": body, "gunicorn.socket": server_side}, 10)
        assert bytes(reader.read(10)) == b"1234"
        assert body.failed and body.reader.length == 6


def test_a_body_read_in_part_another_way_or_another_server_keeps_the_servers_stream():
    from volumes.socket_body import GunicornSocketBody

    client, server_side = socket.socketpair()
    with client, server_side:
        body = gunicorn_body(server_side, 10, held=b"0123456789")
        assert body.read(2) == b"01"
        assert GunicornSocketBody.of({"wsgi.input": body, "gunicorn.socket": server_side}, 10) is None
        fresh = gunicorn_body(server_side, 10)
        assert GunicornSocketBody.of({"wsgi.input": fresh, "gunicorn.socket": server_side}, 12) is None
        assert GunicornSocketBody.of({"wsgi.input": io.BytesIO(b"0123456789")}, 10) is None
