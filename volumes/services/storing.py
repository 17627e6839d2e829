"""Storing files so that a crash cannot orphan them: staged, then moved into place once their rows commit.

An upload's files arrive in the staging folder (`staging_dir`, on the media folder's file system). The
files to keep are renamed to `staging/pending/<sha256>.dcm` inside the transaction that writes their
rows; once it has committed they are moved into storage (renamed into a storage on this disk;
another storage reads it once). A crash before the commit leaves
only pending files without rows; a crash after it, rows whose files still wait in `pending/`: both are
what `manage.py check_storage` finds and repairs (`storage_check`).
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

PENDING_FOLDER = "pending"


def staging_dir() -> Path:
    """Where uploads and unpacked archives wait before they are stored: beside the media files, so that
    storing them is a rename ($VOLUMES_STAGING_DIR, by default the media folder's `staging/`)."""
    folder = Path(settings.VOLUMES_STAGING_DIR or Path(settings.MEDIA_ROOT) / "staging")
    private_folder(folder)
    return folder


def private_folder(folder: Path) -> None:
    """Create `folder` and any missing parent readable by this account only (0700): they hold patient
    data (`Path.mkdir(parents=True)` would give the parents the default mode)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(mode=0o700, exist_ok=True)


def pending_folder() -> Path:
    """Where staged files wait for their rows (created when missing)."""
    folder = staging_dir() / PENDING_FOLDER
    private_folder(folder)
    return folder


def pending_path(digest: str, folder: Path | None = None) -> Path:
    """`folder`: the pending folder, when the caller has it (an upload places hundreds of files)."""
    return (folder or staging_dir() / PENDING_FOLDER) / f"{digest}.dcm"


def instance_file_name(digest: str) -> str:
    """Where a DICOM file is stored: under its SHA-256, so that identical content is stored once."""
    return f"instances/{digest[:2]}/{digest}.dcm"


def file_set_pending(*, path: Path, digest: str, folder: Path | None = None) -> bool:
    """Rename a staged file to wait for its rows (no byte written): `pending/<sha256>.dcm`.

    False when the same content already waits there for another upload's rows: that one is left to it.
    `folder`: `pending_folder()`, when the caller has it.
    """
    target = pending_path(digest, folder or pending_folder())
    if target.exists():
        return False
    os.replace(path, target)
    return True


class PendingFile(File):
    """A staged file that FileSystemStorage moves into place instead of copying."""

    def temporary_file_path(self) -> str:
        return self.name


def pending_store(*, digest: str, folder: Path | None = None) -> None:
    """Move a pending file into storage under its content's name; drop it when that name is stored already.
    `folder`: the pending folder, when the caller has it."""
    source = pending_path(digest, folder)
    name = instance_file_name(digest)
    target = storage_local_path(name)
    if target is not None:
        try:
            file_move_into(source, target)
            return
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise  # else VOLUMES_STAGING_DIR lies on another disk: the storage copies it
    try:
        if not default_storage.exists(name):
            with open(source, "rb") as f:
                saved = default_storage.save(name, PendingFile(f, name=str(source)))
            if saved != name:  # stored meanwhile by another upload of the same content
                default_storage.delete(saved)
    except FileNotFoundError:
        if not default_storage.exists(name):
            raise
    source.unlink(missing_ok=True)


def pending_discard(*, digest: str) -> None:
    pending_path(digest).unlink(missing_ok=True)


def storage_local_path(name: str) -> Path | None:
    """Where the default storage keeps `name` on this host's disk; None for a storage without paths (S3)."""
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:
        return None


def file_move_into(source: Path, target: Path) -> None:
    """Rename a pending file to its place in a storage on this disk, as `FileSystemStorage.save` would
    with several times the work (it checks the name, the path and the file again). A file already
    there has the same content (the name is its SHA-256): replacing it changes nothing."""
    try:
        os.rename(source, target)
    except FileNotFoundError:
        if not source.exists():  # moved meanwhile by another upload of the same content
            if target.exists():
                return
            raise
        private_folder(target.parent)
        os.rename(source, target)
    mode = getattr(default_storage, "file_permissions_mode", None)
    if mode is not None:
        os.chmod(target, mode)
