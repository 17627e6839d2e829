"""Stored files as the pipeline reads them: local paths, taken from the storage API only.

The pipeline reads files by path (pydicom, several processes). A storage that has local paths (the
file system) gives its own; one that has none (S3 through django-storages) has each file streamed to
a temporary folder that lives as long as the `with` block.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.files.storage import Storage, default_storage

from ..imaging.sources import SourceFile
from ..models import Instance
from .storing import private_folder

COPY_CHUNK_BYTES = 1024 * 1024


@contextmanager
def instances_on_disk(instances: Iterable[Instance], storage: Storage = default_storage) -> Iterator[list[SourceFile]]:
    """The instances' files as SourceFiles with local paths, valid inside the block."""
    with tempfile.TemporaryDirectory(prefix="series-") as workdir:
        sources = []
        for index, instance in enumerate(instances):
            sources.append(SourceFile(name=instance.original_name, path=local_path(storage, instance.file.name, Path(workdir), index)))
        yield sources


def instances_kept_on_disk(instances: Iterable[Instance], storage: Storage = default_storage) -> list[SourceFile]:
    """The instances' files as SourceFiles with local paths that stay valid: the storage's own, else
    copies kept (by content) in VOLUMES_FILE_CACHE_DIR, shared by this host's processes (the viewer
    reads slice after slice of a series long after its headers were read)."""
    folder = Path(settings.VOLUMES_FILE_CACHE_DIR)
    sources = []
    for instance in instances:
        try:
            path = Path(storage.path(instance.file.name))
        except NotImplementedError:
            path = folder / f"{instance.sha256}.dcm"
            if not path.exists():
                private_folder(folder)
                partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
                with storage.open(instance.file.name, "rb") as stored, open(partial, "wb") as copy:
                    shutil.copyfileobj(stored, copy, COPY_CHUNK_BYTES)
                os.replace(partial, path)
        sources.append(SourceFile(name=instance.original_name, path=path))
    return sources


def local_path(storage: Storage, name: str, workdir: Path, index: int) -> Path:
    try:
        return Path(storage.path(name))
    except NotImplementedError:
        target = workdir / f"{index}{Path(name).suffix}"
        with storage.open(name, "rb") as stored, open(target, "wb") as copy:
            shutil.copyfileobj(stored, copy, COPY_CHUNK_BYTES)
        return target
