"""End to end over HTTP: a 600-slice zip posted to the API of a running server, until the page shows it.

    make run PORT=8100 VOLUMES_ADMIN_PASSWORD=...        # in one shell (a fresh VOLUMES_VAR_DIR makes that account)
    .venv/bin/python bench/http_e2e.py --url http://127.0.0.1:8100/ --username admin --password ...

Signs in as a person does (GET the login page, POST the form with its CSRF token; the session
cookie then authenticates the API, whatever else the API accepts), then per round zips
bench/phantom.py's 600-slice series (stored, not deflated: DICOM barely compresses) into bench/out/
as a series the server has not seen (new Study and Series UIDs), and times:

  floor      copy the zip's bytes to a new file and hash them (SHA-256): what taking in the upload
             costs at the least, with no HTTP, parsing or database
  to 202     POST the zip to /api/measurements/ (streamed, multipart) until the 202 answer
  202 → done poll the measurement's API resource (every POLL_SECONDS) until its state is done
  done → page the result page, as a browser on it updates it (its script polls the status every
             0.2 s, then fetches the page and swaps the result in; without the script, its
             `<meta http-equiv="refresh">` period), until it shows the volume: how long a person
             looking at it waits after the result exists

Targets (issue 12): to 202 ≤ 3× the floor, 202 → done ≤ 1 s, done → page ≤ 0.3 s.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import http.cookiejar
import json
import os
import re
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

import phantom  # noqa: E402
from archive_form import CHUNK_BYTES, archive_form  # noqa: E402
import pydicom  # noqa: E402

POLL_SECONDS = 0.02
TARGET_TO_202_VS_FLOOR = 3.0
TARGET_202_TO_DONE_S = 1.0
TARGET_DONE_TO_PAGE_S = 0.3
META_REFRESH = re.compile(r'<meta\s+http-equiv="refresh"\s+content="(\d+(?:\.\d+)?)"', re.IGNORECASE)


def series_zip(out: Path, slices: int, round_number: int) -> Path:
    """bench/out/ct-<slices>-upload.zip: the phantom's series, stored, as a new series each round.

    An upload of a series already stored is measured from its stored histograms, without reading a
    pixel; the Study and Series Instance UIDs are therefore changed in every file (to UIDs of the same
    length, so only those bytes change) to measure a first upload each time.
    """
    folder = phantom.series_folder(out, slices)
    paths = sorted(folder.iterdir())
    first = pydicom.dcmread(paths[0], stop_before_pixels=True)
    stamp = f"{round_number % 9 + 1}{time.time_ns() % 10**5:05d}"
    uids = (first.StudyInstanceUID, first.SeriesInstanceUID)
    changes = [(uid.encode(), (uid[: -len(stamp)] + stamp).encode()) for uid in uids]
    archive = out / f"ct-{slices}-upload.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in paths:
            data = path.read_bytes()
            for old, new in changes:
                data = data.replace(old, new)
            zf.writestr(f"ct-{slices}/{path.name}", data)
    return archive


def floor_seconds(archive: Path) -> float:
    """Copy the archive to a new file while hashing it, as an upload's bytes are taken in at least once."""
    digest = hashlib.sha256()
    with open(archive, "rb") as source, tempfile.NamedTemporaryFile(dir=archive.parent) as target:
        t0 = time.perf_counter()
        while chunk := source.read(CHUNK_BYTES):
            digest.update(chunk)
            target.write(chunk)
        target.flush()
        return time.perf_counter() - t0


class Session:
    """A signed-in browser session: cookies, CSRF token, one connection."""

    def __init__(self, url: str) -> None:
        self.base = url if url.endswith("/") else url + "/"
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base, path)

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.cookies if c.name == name), "")

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(self.url(path), timeout=120) as response:
            return response.status, response.read().decode()

    def sign_in(self, username: str, password: str) -> None:
        _, page = self.get("accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token is None:
            raise SystemExit("no CSRF token on the login page")
        form = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)})
        login = self.url("accounts/login/")
        request = urllib.request.Request(login, data=form.encode(), headers={"Referer": login})
        with self.opener.open(request, timeout=60) as response:
            if "/accounts/login/" in response.url:
                raise SystemExit(f"signing in as {username!r} failed: check --username and --password")

    def post_zip(self, archive: Path) -> tuple[float, dict]:
        """POST the archive to the API as a multipart form, streamed; seconds to the answer, and its body."""
        body, form_headers = archive_form(archive)
        parts = urllib.parse.urlsplit(self.url("api/measurements/"))
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=600)
        headers = {
            **form_headers,
            "Cookie": "; ".join(f"{c.name}={c.value}" for c in self.cookies),
            "X-CSRFToken": self.cookie("csrftoken"),
            "Referer": self.base,
        }

        t0 = time.perf_counter()
        connection.request("POST", parts.path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        elapsed = time.perf_counter() - t0
        connection.close()
        if response.status != 202:
            raise SystemExit(f"the upload was answered {response.status}: {answer[:500]!r}")
        return elapsed, json.loads(answer)


def wait_done(session: Session, measurement_url: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    while True:
        _, text = session.get(measurement_url)
        body = json.loads(text)
        if body["state"] in ("done", "failed"):
            return time.perf_counter() - t0, body
        time.sleep(POLL_SECONDS)


def page_shows(page: str, volume_mm3: float) -> bool:
    """Whether the page shows the measured volume (as the result table prints it, in mL or mm³)."""
    return f"{volume_mm3 / 1000:,.1f}" in page or f"{volume_mm3:,.0f}" in page or f"{volume_mm3:,.3f}" in page


STATUS_URL = re.compile(r'data-status-url="([^"]+)"')
PAGE_POLL_SECONDS = 0.2
"""How often the result page's script (static/volumes/measurement.js, POLL_MS) asks for its status."""


def one_round(session: Session, archive: Path) -> dict:
    to_202, answer = session.post_zip(archive)
    (measurement,) = answer["measurements"]
    # The person is on the result page from the 202 on (the upload page sends a single series there).
    # Its script polls the status every 0.2 s and, once finished, fetches the page and swaps the
    # result in (no full reload); a page without that script refreshes itself as its meta tag says.
    page_path = measurement["page_url"]
    page_loaded = time.perf_counter()
    _, page = session.get(page_path)
    status = STATUS_URL.search(page)
    refresh = META_REFRESH.search(page)
    period = PAGE_POLL_SECONDS if status else float(refresh.group(1)) if refresh else POLL_SECONDS
    to_done, result = wait_done(session, measurement["url"])
    done_at = time.perf_counter()
    if result["state"] != "done":
        raise SystemExit(f"the measurement failed: {result.get('error_message')}")
    next_check = page_loaded + period * max(1, -(-(done_at - page_loaded) // period))
    while True:
        time.sleep(max(0.0, next_check - time.perf_counter()))
        if status:
            _, body = session.get(status.group(1))
            if not json.loads(body)["finished"]:
                next_check = time.perf_counter() + period
                continue
        _, page = session.get(page_path)
        if page_shows(page, result["volume_mm3"]):
            break
        next_check = time.perf_counter() + period
    return {
        "to_202_s": to_202,
        "to_done_s": to_done,
        "to_page_s": time.perf_counter() - done_at,
        "page_update": f"status polled every {period:g} s, result swapped in" if status else f"meta refresh every {period:g} s",
        "voxels": result["voxels_above"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8100/")
    parser.add_argument("--username", default=os.environ.get("VOLUMES_ADMIN_USERNAME", "admin"))
    parser.add_argument("--password", default=os.environ.get("VOLUMES_ADMIN_PASSWORD"))
    parser.add_argument("--slices", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BENCH / "out")
    args = parser.parse_args()
    if not args.password:
        raise SystemExit("give --password (or VOLUMES_ADMIN_PASSWORD)")
    session = Session(args.url)
    session.sign_in(args.username, args.password)
    rounds = []
    for round_number in range(args.repeats):
        archive = series_zip(args.out, args.slices, round_number)
        size_mib = archive.stat().st_size / 2**20
        floor = floor_seconds(archive)
        rounds.append({"floor_s": floor, **one_round(session, archive)})
    print(f"{args.slices}-slice zip ({size_mib:.0f} MiB) posted to {args.url}api/measurements/, {args.repeats} rounds")
    print(f"  {'round':>5} {'floor s':>8} {'to 202 s':>9} {'÷ floor':>8} {'202→done s':>11} {'done→page s':>12}  voxels")
    for number, r in enumerate(rounds, 1):
        print(
            f"  {number:>5} {r['floor_s']:>8.3f} {r['to_202_s']:>9.3f} {r['to_202_s'] / r['floor_s']:>8.2f} "
            f"{r['to_done_s']:>11.3f} {r['to_page_s']:>12.3f}  {r['voxels']:,}"
        )
    best = {key: min(r[key] for r in rounds) for key in ("floor_s", "to_202_s", "to_done_s", "to_page_s")}
    ratio = best["to_202_s"] / best["floor_s"]
    print(f"  the page updates by: {rounds[-1]['page_update']}")
    print(f"  best to 202   {best['to_202_s']:.3f} s = {ratio:.2f}× the floor (target ≤ {TARGET_TO_202_VS_FLOOR:g}×: {verdict(ratio <= TARGET_TO_202_VS_FLOOR)})")
    print(f"  best 202→done {best['to_done_s']:.3f} s (target ≤ {TARGET_202_TO_DONE_S:g} s: {verdict(best['to_done_s'] <= TARGET_202_TO_DONE_S)})")
    print(f"  best done→page {best['to_page_s']:.3f} s (target ≤ {TARGET_DONE_TO_PAGE_S:g} s: {verdict(best['to_page_s'] <= TARGET_DONE_TO_PAGE_S)})")


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


if __name__ == "__main__":
    main()
