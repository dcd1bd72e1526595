"""A job's submission, put where the program reads it (INPUT/res): copied as it is for the function contract, a ZIP
unpacked for the Codabench contract under the same ZIP limits and checks as every other submission archive."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from podium_runtime.scoring import archive
from podium_runtime.scoring.archive import ArchiveLimits, participant_data

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# World-readable: the program runs as a uid of its own; the folders above the inbox stay the runner's.
_FILE_MODE = 0o644


def stage_submission(submission: Path, inbox: Path, *, unpack: bool, limits: ArchiveLimits) -> Path:
    """Empty `inbox`, then put the submission in it; returns the submission's path inside `inbox` (the inbox
    itself when a ZIP was unpacked). Raises ArchiveRejected, with a reason for the participant."""
    for entry in inbox.iterdir():
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    if unpack and _is_zip(submission):
        unpack_zip(submission.read_bytes(), inbox, limits)
        return inbox
    staged = inbox / submission.name
    shutil.copyfile(submission, staged)
    staged.chmod(_FILE_MODE)
    return staged


def unpack_zip(data: bytes, into: Path, limits: ArchiveLimits) -> list[str]:
    """Every member of the ZIP written into `into`, after the whole directory passed the checks (entry count,
    names — no folders, '..', absolute paths or duplicates —, methods, per-member and total size, overlaps, local
    headers against the directory); each member is inflated under its cap and CRC-checked."""
    with participant_data("the ZIP"):
        members = archive.inspect_members(data, limits)
    for member in members:
        with participant_data(member.name):
            content = archive.read_member(data, member)
        target = into / member.name
        with open(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE), "wb") as file:
            os.fchmod(file.fileno(), _FILE_MODE)  # whatever the umask: another uid reads it
            file.write(content)
    return [member.name for member in members]


def starts_like_zip(data: bytes) -> bool:
    """Whether `data` begins as a ZIP does (a local header, or the end record of an empty ZIP)."""
    return data[:4] in _ZIP_MAGIC


def _is_zip(path: Path) -> bool:
    with path.open("rb") as file:
        return starts_like_zip(file.read(4))
