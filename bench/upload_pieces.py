"""Where an upload's time goes before its 202, piece by piece, in one process (no HTTP server).

    .venv/bin/python bench/upload_pieces.py [--rounds 3]

Per round, the 600-slice zip of bench/http_e2e.py (stored, a new series each round) is written as a
multipart body to bench/out/, then taken in as the API takes it: Django's multipart parser with the
upload handler of settings.FILE_UPLOAD_HANDLERS reading the body from the file, then
services.upload_ingest. The service's own steps are timed by wrapping the functions it calls, so the
code timed is the code that runs; a fresh VOLUMES_VAR_DIR under bench/out holds the database and media.
The floor is bench/http_e2e.py's: copy the zip's bytes to a new file while hashing them.
"""
from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

PIECES = {
    "receive": "multipart body → staging folder (stored zip entries split out, hashed)",
    "unpack": "zip table of contents, budget, entries taken (or extracted)",
    "headers": "read the headers of the files",
    "volumes": "group the images into volumes",
    "rows": "study, series, 600 instance rows, measurement (one transaction)",
    "move": "files renamed from pending/ into storage (on commit)",
}


def multipart_body(archive: Path) -> tuple[Path, str]:
    boundary = uuid.uuid4().hex
    head = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"mode\"\r\n\r\nnormalized\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{archive.name}\"\r\n"
        "Content-Type: application/zip\r\n\r\n"
    ).encode()
    body = archive.with_suffix(".multipart")
    with open(body, "wb") as out, open(archive, "rb") as source:
        out.write(head)
        shutil.copyfileobj(source, out, 1 << 20)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    return body, boundary


class Timer:
    """Seconds per piece, added up over the calls of the wrapped functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, module, name: str, piece: str) -> None:
        real = getattr(module, name)

        @functools.wraps(real)
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return real(*args, **kwargs)
            finally:
                self.seconds[piece] += time.perf_counter() - t0

        setattr(module, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    var = Path(tempfile.mkdtemp(prefix="upload-pieces-", dir=args.out))
    os.environ["VOLUMES_VAR_DIR"] = str(var)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dicomsite.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIRequest
    from django.core.management import call_command

    import http_e2e
    from volumes.imaging.thresholds import ThresholdRequest
    from volumes.services import scanning, uploads

    call_command("migrate", verbosity=0)
    owner = get_user_model().objects.create_user("bench", password="not-used-1")
    timer = Timer()
    timer.wrap(scanning, "unpack_sources", "unpack")
    timer.wrap(scanning, "read_images", "headers")
    timer.wrap(scanning, "split_into_volumes", "volumes")
    timer.wrap(uploads, "series_store", "rows")
    timer.wrap(uploads, "pending_store_all", "move")
    rows = []
    try:
        for number in range(args.rounds):
            archive = http_e2e.series_zip(args.out, args.slices, number)
            body, boundary = multipart_body(archive)
            floor = http_e2e.floor_seconds(archive)
            timer.seconds.clear()
            cpu0, t0 = time.process_time(), time.perf_counter()
            with open(body, "rb") as stream:
                request = WSGIRequest({
                    "REQUEST_METHOD": "POST", "PATH_INFO": "/api/measurements/", "SERVER_NAME": "bench", "SERVER_PORT": "80",
                    "wsgi.url_scheme": "http", "wsgi.input": stream, "CONTENT_LENGTH": str(body.stat().st_size),
                    "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
                })
                files = request.FILES.getlist("files")
            timer.seconds["receive"] = time.perf_counter() - t0
            upload = uploads.upload_ingest(owner=owner, files=files, request=ThresholdRequest(mode="normalized", value=0.5))
            request.close()
            total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            assert upload.measurements.get().series.instances.count() == args.slices
            body.unlink()
            rows.append({"floor": floor, **timer.seconds, "total": total, "cpu": cpu})
    finally:
        shutil.rmtree(var, ignore_errors=True)
    size_mib = archive.stat().st_size / 2**20
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{args.slices}-slice zip ({size_mib:.0f} MiB), in one process, {args.rounds} rounds, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load}")
    print(f"  {'piece':<9}" + "".join(f"{f'round {n + 1} s':>11}" for n in range(len(rows))) + "  what")
    for piece in ("floor", *PIECES, "total", "cpu"):
        what = {"floor": "copy + SHA-256 of the zip", "total": "receive → upload_ingest returned", "cpu": "process CPU time of total"}.get(piece, PIECES.get(piece))
        print(f"  {piece:<9}" + "".join(f"{r.get(piece, 0.0):>11.3f}" for r in rows) + f"  {what}")
    best = min(rows, key=lambda r: r["total"] / r["floor"])
    print(f"  best total ÷ floor: {best['total'] / best['floor']:.2f}×")


if __name__ == "__main__":
    main()
