"""Zip archives among the sources, unpacked into the files they hold."""
from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from .sources import Skipped, SourceFile

MAX_ZIP_DEPTH = 3
"""Zip archives inside zip archives are opened up to this depth; deeper ones are skipped."""


def unpack_sources(sources: Iterable[SourceFile], workdir: Path) -> tuple[list[SourceFile], list[Skipped]]:
    """Replace every zip archive among `sources` by the files inside it, extracted under `workdir`.

    Nested archives are opened too. Member names are never used as paths on disk, so an archive
    cannot write outside `workdir`.
    """
    files: list[SourceFile] = []
    skipped: list[Skipped] = []
    pending = [(source, 0) for source in sources]
    counter = 0
    while pending:
        source, depth = pending.pop(0)
        if not is_zip(source.path):
            files.append(source)
            continue
        if depth >= MAX_ZIP_DEPTH:
            skipped.append(Skipped(source.name, f"a zip archive nested more than {MAX_ZIP_DEPTH} deep"))
            continue
        try:
            with zipfile.ZipFile(source.path) as archive:
                members = sorted((m for m in archive.infolist() if not m.is_dir()), key=lambda m: m.filename)
                for member in members:
                    counter += 1
                    target = workdir / f"unpacked-{counter}"
                    name = f"{source.name}/{PurePosixPath(member.filename)}"
                    try:
                        with archive.open(member) as src, open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst, 1024 * 1024)
                    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as error:
                        skipped.append(Skipped(name, f"could not be extracted from the zip archive ({error})"))
                        continue
                    pending.append((SourceFile(name=name, path=target), depth + 1))
        except zipfile.BadZipFile as error:
            skipped.append(Skipped(source.name, f"a damaged zip archive ({error})"))
    return files, skipped


def is_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04" and zipfile.is_zipfile(path)
