"""De-identification of uploads (VOLUMES_DEIDENTIFY): the scanned files are rewritten de-identified, and
scanned again, before anything of them is stored."""
from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings

from ..imaging.deidentify import DeidentificationFailed, Deidentifier
from ..imaging.sources import Skipped, SourceFile
from .scanning import Scan, sources_scan

logger = logging.getLogger(__name__)


def scan_deidentify(*, scan: Scan, workdir: Path) -> Scan:
    """The scan of the same images de-identified (one Deidentifier for the whole upload, so that UIDs
    map consistently within each study); `scan` itself when de-identification is off.

    A file that cannot be de-identified is skipped, never stored as it came.
    """
    if not settings.VOLUMES_DEIDENTIFY or not scan.volumes:
        return scan
    deidentifier = Deidentifier()
    folder = workdir / "deidentified"
    folder.mkdir(mode=0o700)
    sources: list[SourceFile] = []
    skipped = list(scan.skipped)
    images = [image for volume in scan.volumes for image in volume.images]
    for index, image in enumerate(images):
        target = folder / f"{index}.dcm"
        try:
            deidentifier.deidentify_file(image.path, target)
        except DeidentificationFailed as error:
            logger.warning("upload file %d of %d %s", index + 1, len(images), error)
            skipped.append(Skipped(image.name, str(error)))
            continue
        sources.append(SourceFile(name=image.name, path=target))
    again = sources_scan(sources=sources, workdir=folder)
    return Scan(volumes=again.volumes, skipped=[*skipped, *again.skipped], files=scan.files)
