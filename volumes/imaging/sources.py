"""Files as the user sent them: names inside the upload, folder or archive, and where they lie now."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .zip_split import SplitEntry


@dataclass(frozen=True)
class SourceFile:
    """A file as the user named it (path inside the upload or archive) and where it lies now."""

    name: str
    path: Path
    sha256: str = ""
    """Its SHA-256 when computed as it arrived; empty when unknown."""
    split_entries: Mapping[int, SplitEntry] | None = field(default=None, compare=False)
    """A zip archive whose stored entries were written to files of their own as it arrived (zip_split),
    by the offset of their local header; the archive file has holes in their place."""


@dataclass(frozen=True)
class Skipped:
    """A file left out of every measurement, and why."""

    name: str
    reason: str

    def as_dict(self) -> dict:
        return {"file": self.name, "reason": self.reason}


def collect_paths(paths: Iterable[Path]) -> list[SourceFile]:
    """Files named on a command line: files as given, folders walked recursively in name order."""
    sources = []
    for path in paths:
        if path.is_dir():
            for parts in sorted(files_under(path)):
                name = "/".join(part for part in (path.name, *parts) if part)  # "." has no name
                sources.append(SourceFile(name=name, path=path.joinpath(*parts)))
        else:
            sources.append(SourceFile(name=path.name, path=path))
    return sources


def files_under(folder: Path) -> Iterator[tuple[str, ...]]:
    """The regular files below `folder` (symbolic links to files included, to folders not followed),
    as the names on the way to each."""
    pending: list[tuple[str, ...]] = [()]
    while pending:
        parts = pending.pop()
        with os.scandir(folder.joinpath(*parts)) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append((*parts, entry.name))
                elif entry.is_file():
                    yield (*parts, entry.name)
