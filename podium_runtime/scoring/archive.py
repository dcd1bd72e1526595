"""Safe reading of a submission ZIP held in memory: its central directory is checked against named limits
before a single byte is inflated, then members are read one at a time, each with a hard size cap. Every format
whose submission is a ZIP (tensors, masks) reads it through here.

One parser, ours, reads the directory, and the members are read from exactly the byte ranges it checked: reading
through a second parser (zipfile) would open the door to parser differentials, the classic way to smuggle data
past a check. Stored members come back as zero-copy views of the archive.
"""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Collection, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from podium_runtime.scoring.refusals import SubmissionRefused

KiB = 1 << 10
MiB = 1 << 20
# Compressed bytes handed to zlib at a time: the input side of the inflate cap (the output side is the member's size).
_INFLATE_INPUT_BYTES = 1 * MiB

STORED = 0
DEFLATED = 8
_METHOD_NAMES = {1: "shrink", 6: "implode", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 95: "xz", 99: "AES"}

# General-purpose flag bits (APPNOTE 4.4.4).
_FLAG_ENCRYPTED = 0x0001
_FLAG_DATA_DESCRIPTOR = 0x0008
_FLAG_STRONG_ENCRYPTION = 0x0040
_FLAG_UTF8 = 0x0800

_END = struct.Struct("<4sHHHHIIH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_ZIP64_END = struct.Struct("<4sQHHIIQQQQ")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_END_SIGNATURE = b"PK\x06\x06"
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_LOCAL_SIGNATURE = b"PK\x03\x04"
_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
_ZIP64_EXTRA = 0x0001
_ZIP64_MARK_16 = 0xFFFF
_ZIP64_MARK_32 = 0xFFFFFFFF
# The end record's comment is at most 65535 bytes, so the record lies in the archive's last 64 KiB + 22 bytes.
_MAX_COMMENT = 0xFFFF


class ArchiveRejected(SubmissionRefused):
    """The submission's ZIP cannot be scored; the message says why in words a participant can act on."""


# Of a library's error about a participant's file, what its reason quotes.
_QUOTED_ERROR_CHARS = 200


@contextlib.contextmanager
def participant_data(what: str) -> Generator[None]:
    """Around the reading of bytes a participant sent, which the scorer already holds: whatever goes wrong there is
    about those bytes, so it is refused with a reason (ArchiveRejected; a refusal of ours passes as it is), never
    retried as the platform's fault.
    A decoding library's own KeyError or RuntimeError on a malformed file is as much the participant's as a
    refusal of ours; MemoryError says the file needs more memory than the scorer has for it. (Storage, bus and
    database faults happen elsewhere: they stay the platform's, and are retried.)"""
    try:
        yield
    except SubmissionRefused:
        raise
    except MemoryError:
        raise ArchiveRejected(f"{what}: too large to read in the memory a scorer has for one file") from None
    except Exception as error:
        lines = str(error).strip().splitlines()
        detail = f": {lines[0][:_QUOTED_ERROR_CHARS]}" if lines else ""
        raise ArchiveRejected(f"{what}: cannot be read ({type(error).__name__}{detail})") from None


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits on a submission archive, all checked on its central directory before anything is inflated; the size
    limits hold again while inflating, whatever the headers say.

    The defaults bound an archive whose contents are not known. A task knows what each member must hold (one tensor
    of its shape), so scoring replaces the size limits by what the task's members can take (`sized_for`): a
    member or an archive larger than that is refused, however well or badly it compresses.
    """

    max_entries: int = 1000
    """Entries in the central directory; checked from the end record, before the directory itself is parsed."""
    max_entry_bytes: int = 64 * MiB
    """Uncompressed size of one member: the scorer holds one decoded member at a time, this bounds it."""
    max_total_bytes: int = 1024 * MiB
    """Uncompressed size of all members: bounds the inflate work of one submission (~4 s at 0.25 GB/s)."""
    entry_rule: str = ""
    """Where `max_entry_bytes` comes from, in a participant's words; quoted when a member is refused for its size."""

    def sized_for(self, members: int, member_bytes: int, rule: str) -> ArchiveLimits:
        """These limits for an archive of exactly `members` members of at most `member_bytes` each."""
        return replace(self, max_entry_bytes=member_bytes, max_total_bytes=members * member_bytes, entry_rule=rule)


@dataclass(frozen=True)
class DirectoryEntry:
    """One central directory record, as the archive states it (nothing verified yet)."""

    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int


@dataclass(frozen=True)
class Member:
    """A verified member: where its compressed bytes lie and what they must inflate to."""

    name: str
    sample: str
    method: int
    crc: int
    compressed_size: int
    size: int
    data_offset: int


@dataclass(frozen=True)
class _LocalRecord:
    """A member's local header and the byte span [start, end) it occupies, data descriptor included."""

    entry: DirectoryEntry
    flags: int
    method: int
    raw_name: bytes
    crc: int
    compressed_size: int
    size: int
    data_offset: int
    descriptor: tuple[int, int, int] | None
    start: int
    end: int


def read_directory(data: bytes | memoryview, max_entries: int) -> tuple[list[DirectoryEntry], int]:
    """Parse the end record and the central directory; return the entries and where the directory starts.

    The entry count comes from the end record and is checked before any entry is parsed, so a directory of a
    million entries costs nothing. Archives that need ZIP64 (over 4 GiB or 65535 entries) and multi-disk archives
    are refused: a submission never needs them.
    """
    view = _byte_view(data)
    end_offset, record = _find_end_record(view)
    disk, cd_disk, disk_entries, entries, cd_size, cd_offset = (int(field) for field in record[1:7])
    if _ZIP64_MARK_16 in (disk_entries, entries) or _ZIP64_MARK_32 in (cd_size, cd_offset):
        raise ArchiveRejected("ZIP64 archives are not accepted; a submission fits a plain ZIP (zip, Python's zipfile)")
    if disk or cd_disk or disk_entries != entries:
        raise ArchiveRejected("multi-part (spanned) ZIP archives are not accepted; send a single ZIP file")
    if entries > max_entries:
        raise ArchiveRejected(f"the ZIP has {entries} entries; the limit is {max_entries}")
    directory_end = _zip64_record_start(view, end_offset, (entries, cd_size, cd_offset))
    if cd_offset + cd_size != directory_end:
        raise ArchiveRejected("the ZIP's central directory is not where its end record says (damaged ZIP?)")
    directory: list[DirectoryEntry] = []
    position, cd_end = cd_offset, cd_offset + cd_size
    for _ in range(entries):
        entry, position = _parse_central_entry(view, position, cd_end)
        directory.append(entry)
    if position != cd_end:
        raise ArchiveRejected("the ZIP's central directory does not match its end record (damaged ZIP?)")
    return directory, cd_offset


def inspect_archive(
    data: bytes | memoryview, samples: Sequence[str], suffixes: Collection[str], limits: ArchiveLimits
) -> tuple[Member, ...]:
    """Check a submission's directory against `limits` and the expected members; inflate nothing.

    A member is named `<sample><suffix>` for each expected sample and one accepted suffix. Returns the members
    in the order of `samples`; raises ArchiveRejected with the first problem found.
    """
    view = _byte_view(data)
    directory, cd_offset = read_directory(view, limits.max_entries)
    by_sample = _match_samples(directory, samples, suffixes, limits)
    records = [_read_local_record(view, entry, cd_offset) for entry in directory]
    _refuse_overlaps(records, cd_offset)
    sample_of = {entry.name: sample for sample, entry in by_sample.items()}
    members = {record.entry.name: _verified_member(record, sample_of[record.entry.name]) for record in records}
    return tuple(members[by_sample[sample].name] for sample in samples)


def inspect_members(data: bytes | memoryview, limits: ArchiveLimits) -> tuple[Member, ...]:
    """Check a ZIP whose member names are not known in advance (a Codabench submission's files); inflate nothing.
    The checks of `inspect_archive` bar the sample matching: every name (no folders, '..', absolute paths, NUL bytes
    or duplicates), every entry's method and size, the total, overlaps, local headers against the directory.
    Returns the members in the directory's order, each member's `sample` being its name."""
    view = _byte_view(data)
    directory, cd_offset = read_directory(view, limits.max_entries)
    names: set[str] = set()
    for entry in directory:
        _check_name(entry.name)
        if entry.name in names:
            raise ArchiveRejected(f"{_shown(entry.name)} appears twice in the ZIP")
        names.add(entry.name)
        _check_entry(entry, limits)
    total = sum(entry.size for entry in directory)
    if total > limits.max_total_bytes:
        size, limit = readable_size(total), readable_size(limits.max_total_bytes)
        raise ArchiveRejected(f"the files add up to {size} uncompressed; the limit is {limit}")
    records = [_read_local_record(view, entry, cd_offset) for entry in directory]
    _refuse_overlaps(records, cd_offset)
    return tuple(_verified_member(record, record.entry.name) for record in records)


def read_member(data: bytes | memoryview, member: Member) -> memoryview | bytes:
    """The member's uncompressed bytes, CRC-checked. Inflating stops one byte past the declared size, so a
    directory that lies about the size costs at most that much memory before the lie is caught."""
    view = _byte_view(data)
    compressed = view[member.data_offset : member.data_offset + member.compressed_size]
    if member.method == STORED:
        content: memoryview | bytes = compressed
    else:
        content = _inflate_capped(member, compressed)
    if zlib.crc32(content) != member.crc:
        raise ArchiveRejected(f"{member.name}: CRC mismatch, the file is corrupted inside the ZIP; re-create the ZIP")
    return content


def iter_members(
    data: bytes | memoryview, samples: Sequence[str], suffixes: Collection[str], limits: ArchiveLimits
) -> Iterator[tuple[Member, memoryview | bytes]]:
    """Inspect the whole directory first, then yield each member with its bytes, one at a time, in sample order."""
    with participant_data("the ZIP"):
        members = inspect_archive(data, samples, suffixes, limits)
    for member in members:
        with participant_data(member.name):
            content = read_member(data, member)
        yield member, content


def _byte_view(data: bytes | memoryview) -> memoryview:
    return memoryview(data).cast("B")


def _find_end_record(view: memoryview) -> tuple[int, tuple[Any, ...]]:
    """The last end-of-central-directory record whose comment runs exactly to the end of the archive (the record
    unzip tools pick): bytes appended after a ZIP make it no ZIP at all."""
    last = len(view) - _END.size
    if last >= 0 and bytes(view[last : last + 4]) == _END_SIGNATURE and _END.unpack_from(view, last)[-1] == 0:
        # The usual case, no archive comment: skips copying the last 64 KiB of every member torch.save wrote.
        return last, _END.unpack_from(view, last)
    tail_start = max(0, len(view) - _END.size - _MAX_COMMENT)
    tail = bytes(view[tail_start:])
    search_end = len(tail) - _END.size + len(_END_SIGNATURE)
    while (position := tail.rfind(_END_SIGNATURE, 0, max(search_end, 0))) >= 0:
        fields = _END.unpack_from(tail, position)
        if position + _END.size + fields[-1] == len(tail):
            return tail_start + position, fields
        search_end = position + len(_END_SIGNATURE) - 1
    raise ArchiveRejected("the upload is not a ZIP archive (no end-of-central-directory record); send a .zip file")


def _zip64_record_start(view: memoryview, end_offset: int, stated: tuple[int, int, int]) -> int:
    """Where the central directory must end. Some writers (torch.save among them) add a ZIP64 end record and
    locator before the plain end record even when nothing needs ZIP64; that is accepted when it sits exactly there
    and repeats the plain record's count, size and offset."""
    locator = end_offset - _ZIP64_LOCATOR.size
    if locator < 0 or bytes(view[locator : locator + 4]) != _ZIP64_LOCATOR_SIGNATURE:
        return end_offset
    _, _, record_start, _ = _ZIP64_LOCATOR.unpack_from(view, locator)
    if record_start + _ZIP64_END.size > locator:
        raise ArchiveRejected("the ZIP's ZIP64 end record is misplaced (damaged ZIP?)")
    signature, record_size, _, _, _, _, _, entries, cd_size, cd_offset = _ZIP64_END.unpack_from(view, record_start)
    if signature != _ZIP64_END_SIGNATURE or record_start + 12 + record_size != locator:
        raise ArchiveRejected("the ZIP's ZIP64 end record is misplaced (damaged ZIP?)")
    if (entries, cd_size, cd_offset) != stated:
        raise ArchiveRejected("the ZIP's ZIP64 end record disagrees with its end record (damaged ZIP?)")
    return record_start


def _parse_central_entry(view: memoryview, position: int, cd_end: int) -> tuple[DirectoryEntry, int]:
    """The entry at `position` and where the next one starts; nothing may reach past the directory's end."""
    if position + _CENTRAL.size > cd_end:
        raise ArchiveRejected("the ZIP's central directory is truncated (damaged ZIP?)")
    fields = _CENTRAL.unpack_from(view, position)
    signature, _, _, flags, method, _, _, crc, compressed_size, size, name_len, extra_len, comment_len = fields[:13]
    header_offset = fields[-1]
    if signature != _CENTRAL_SIGNATURE:
        raise ArchiveRejected("the ZIP's central directory is damaged (bad entry signature)")
    name_start = position + _CENTRAL.size
    next_position = name_start + name_len + extra_len + comment_len
    if next_position > cd_end:
        raise ArchiveRejected("the ZIP's central directory is truncated (damaged ZIP?)")
    raw_name = bytes(view[name_start : name_start + name_len])
    name = _decode_name(raw_name, flags)
    if _ZIP64_MARK_32 in (compressed_size, size, header_offset):
        raise ArchiveRejected(f"{_shown(name)}: ZIP64 entries are not accepted; a submission fits a plain ZIP")
    return DirectoryEntry(name, raw_name, flags, method, crc, compressed_size, size, header_offset), next_position


def _decode_name(raw_name: bytes, flags: int) -> str:
    # The same rule as every unzip tool: UTF-8 when the entry says so, IBM code page 437 otherwise.
    try:
        return raw_name.decode("utf-8" if flags & _FLAG_UTF8 else "cp437")
    except UnicodeDecodeError:
        raise ArchiveRejected(f"{raw_name!r}: the entry name is not valid UTF-8") from None


def _shown(name: str) -> str:
    """A name safe to echo in a message (no control characters, no line breaks)."""
    return name if name.isprintable() and name else repr(name)


def _match_samples(
    directory: list[DirectoryEntry], samples: Sequence[str], suffixes: Collection[str], limits: ArchiveLimits
) -> dict[str, DirectoryEntry]:
    """Check each entry's name, method and sizes; map every expected sample to its entry."""
    expected = set(samples)
    by_sample: dict[str, DirectoryEntry] = {}
    for entry in directory:
        _check_name(entry.name)
        sample = _sample_of(entry.name, expected, suffixes, samples)
        if sample in by_sample:
            raise ArchiveRejected(_twice_message(entry.name, by_sample[sample].name, sample))
        _check_entry(entry, limits)
        by_sample[sample] = entry
    total = sum(entry.size for entry in directory)
    if total > limits.max_total_bytes:
        limit = readable_size(limits.max_total_bytes)
        raise ArchiveRejected(f"the files add up to {readable_size(total)} uncompressed; the limit is {limit}")
    missing = [sample for sample in samples if sample not in by_sample]
    if missing:
        raise ArchiveRejected(_missing_message(missing, suffixes))
    return by_sample


def _check_name(name: str) -> None:
    shown = _shown(name)
    if not name:
        raise ArchiveRejected("an entry of the ZIP has an empty name")
    if "\x00" in name:
        raise ArchiveRejected(f"{shown}: entry names may not contain NUL bytes")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRejected(f"{shown}: absolute paths are not accepted; put the sample files at the top of the ZIP")
    if ".." in name.replace("\\", "/").split("/"):
        raise ArchiveRejected(f"{shown}: paths with '..' are not accepted; put the sample files at the top of the ZIP")
    if "/" in name or "\\" in name:
        raise ArchiveRejected(
            f"{shown}: folders are not accepted; put the sample files at the top of the ZIP (zip the files, not "
            "their folder)"
        )


def _sample_of(name: str, expected: set[str], suffixes: Collection[str], samples: Sequence[str]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and name[: -len(suffix)] in expected:
            return name[: -len(suffix)]
    raise ArchiveRejected(
        f"{_shown(name)}: unexpected file in the ZIP; expected only {_expected_names(samples, suffixes)}"
    )


def _expected_names(samples: Sequence[str], suffixes: Collection[str]) -> str:
    shown = f"{samples[0]} … {samples[-1]}" if len(samples) > 2 else ", ".join(samples) or "nothing"
    return f"{shown} ({len(samples)} files, each {_one_of(suffixes)})"


def _one_of(suffixes: Collection[str]) -> str:
    ordered = list(suffixes)
    return ordered[0] if len(ordered) == 1 else ", ".join(ordered[:-1]) + " or " + ordered[-1]


def _twice_message(name: str, earlier: str, sample: str) -> str:
    if name == earlier:
        return f"{_shown(name)} appears twice in the ZIP"
    return f"{sample} is given twice ({_shown(earlier)} and {_shown(name)}); keep one"


def _missing_message(missing: list[str], suffixes: Collection[str]) -> str:
    if len(missing) == 1:
        return f"{missing[0]} is missing from the ZIP (expected {missing[0]} as {_one_of(suffixes)})"
    listed = ", ".join(missing[:5]) + (", …" if len(missing) > 5 else "")
    return f"{len(missing)} samples are missing from the ZIP: {listed}"


def _check_entry(entry: DirectoryEntry, limits: ArchiveLimits) -> None:
    name = _shown(entry.name)
    if entry.flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION) or entry.method == 99:
        raise ArchiveRejected(f"{name}: is encrypted (password-protected); send the ZIP without a password")
    if entry.method not in (STORED, DEFLATED):
        method = _METHOD_NAMES.get(entry.method, f"method {entry.method}")
        raise ArchiveRejected(
            f"{name}: compression {method} is not accepted; use STORED or DEFLATED (the default of zip tools)"
        )
    if entry.method == STORED and entry.compressed_size != entry.size:
        raise ArchiveRejected(f"{name}: stored without compression but its two sizes differ (damaged ZIP?)")
    if entry.size > limits.max_entry_bytes:
        size, limit = readable_size(entry.size), readable_size(limits.max_entry_bytes)
        rule = f" ({limits.entry_rule})" if limits.entry_rule else ""
        raise ArchiveRejected(f"{name}: {size} uncompressed; the limit is {limit} per file{rule}")


def _read_local_record(view: memoryview, entry: DirectoryEntry, cd_offset: int) -> _LocalRecord:
    """Parse the local header the entry points at and work out the span it occupies. Only structure is read
    here; whether the header agrees with the directory is checked after the overlap check."""
    name = _shown(entry.name)
    start = entry.header_offset
    if start + _LOCAL.size > cd_offset:
        raise ArchiveRejected(f"{name}: its local header lies outside the ZIP's data (damaged ZIP?)")
    signature, _, flags, method, _, _, crc, compressed_size, size, name_len, extra_len = _LOCAL.unpack_from(view, start)
    if signature != _LOCAL_SIGNATURE:
        raise ArchiveRejected(f"{name}: no local header where the directory points (damaged ZIP?)")
    name_start = start + _LOCAL.size
    data_offset = name_start + name_len + extra_len
    raw_name = bytes(view[name_start : name_start + name_len])
    zip64 = _zip64_sizes(view[name_start + name_len : data_offset])
    if zip64 is not None and _ZIP64_MARK_32 in (compressed_size, size):
        size, compressed_size = zip64
    end = data_offset + entry.compressed_size
    descriptor = None
    if entry.flags & _FLAG_DATA_DESCRIPTOR:
        descriptor, descriptor_len = _read_descriptor(view, end, cd_offset, entry, wide=zip64 is not None)
        end += descriptor_len
    return _LocalRecord(entry, flags, method, raw_name, crc, compressed_size, size, data_offset, descriptor, start, end)


def _zip64_sizes(extra: memoryview) -> tuple[int, int] | None:
    """(uncompressed, compressed) from a local header's ZIP64 extra field, which streaming writers emit."""
    position = 0
    while position + 4 <= len(extra):
        header_id, length = struct.unpack_from("<HH", extra, position)
        if header_id == _ZIP64_EXTRA and length >= 16:
            return struct.unpack_from("<QQ", extra, position + 4)
        position += 4 + length
    return None


def _read_descriptor(
    view: memoryview, position: int, limit: int, entry: DirectoryEntry, *, wide: bool
) -> tuple[tuple[int, int, int], int]:
    """The data descriptor after a streamed member: (crc, compressed, uncompressed) and its length. Its
    signature is optional (APPNOTE 4.3.9.3); it is taken as present when the CRC after it matches."""
    layout = "<IQQ" if wide else "<III"
    length = struct.calcsize(layout)
    has_signature = (
        bytes(view[position : position + 4]) == _DESCRIPTOR_SIGNATURE
        and position + 8 <= limit
        and struct.unpack_from("<I", view, position + 4)[0] == entry.crc
    )
    if has_signature:
        position, length = position + 4, length + 4
    if position + struct.calcsize(layout) > limit:
        raise ArchiveRejected(f"{_shown(entry.name)}: its data runs into the central directory (damaged ZIP?)")
    return struct.unpack_from(layout, view, position), length


def _refuse_overlaps(records: list[_LocalRecord], cd_offset: int) -> None:
    """No two members may share bytes, and none may reach into the central directory: overlapping entries are
    how the "overlapping-file" ZIP bomb makes a small archive inflate to gigabytes."""
    ordered = sorted(records, key=lambda record: record.start)
    for earlier, later in pairwise(ordered):
        if later.start < earlier.end:
            raise ArchiveRejected(
                f"{_shown(later.entry.name)} overlaps {_shown(earlier.entry.name)} inside the ZIP (entries may not "
                "share data: this is how overlapping-file ZIP bombs work)"
            )
    for record in ordered:
        if record.end > cd_offset:
            raise ArchiveRejected(f"{_shown(record.entry.name)}: its data runs into the central directory")


def _verified_member(record: _LocalRecord, sample: str) -> Member:
    """The member, once its local header agrees with the central directory on name, method and sizes."""
    entry = record.entry
    name = _shown(entry.name)
    if record.raw_name != entry.raw_name:
        raise ArchiveRejected(f"{name}: its local header names a different file (damaged or crafted ZIP)")
    if record.method != entry.method or (record.flags ^ entry.flags) & (_FLAG_ENCRYPTED | _FLAG_DATA_DESCRIPTOR):
        raise ArchiveRejected(f"{name}: its local header and the central directory disagree on how it is stored")
    stated = (entry.crc, entry.compressed_size, entry.size)
    local = (record.crc, record.compressed_size, record.size)
    streamed_blank = entry.flags & _FLAG_DATA_DESCRIPTOR and local == (0, 0, 0)
    if local != stated and not streamed_blank:
        raise ArchiveRejected(
            f"{name}: its local header states sizes {record.compressed_size}/{record.size} bytes but the central "
            f"directory says {entry.compressed_size}/{entry.size} (a header lying about sizes is refused)"
        )
    if record.descriptor is not None and record.descriptor != stated:
        raise ArchiveRejected(f"{name}: its data descriptor disagrees with the central directory (damaged ZIP?)")
    return Member(entry.name, sample, entry.method, entry.crc, entry.compressed_size, entry.size, record.data_offset)


def _inflate_capped(member: Member, compressed: memoryview) -> bytes:
    """Inflate under a hard cap of the declared size (itself within the limits) plus one byte, whatever the data
    holds: a member whose headers understate its size stops there and is refused. The input is fed in slices, so
    neither the output nor the input zlib takes in goes much beyond what an honest member needs."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    parts: list[bytes] = []
    produced = consumed = 0
    try:
        while consumed < len(compressed) and not inflater.eof and produced <= member.size:
            piece = compressed[consumed : consumed + _INFLATE_INPUT_BYTES]
            # max_length ≥ 1 here (produced ≤ size): zero would mean "no limit" to zlib.
            part = inflater.decompress(piece, member.size + 1 - produced)
            taken = len(piece) - len(inflater.unconsumed_tail)
            if not part and not taken:
                break  # no progress possible: refused below as incomplete
            parts.append(part)
            produced += len(part)
            consumed += taken
    except zlib.error as error:
        raise ArchiveRejected(f"{_shown(member.name)}: its compressed data is damaged ({error})") from None
    trailing = consumed < len(compressed) or inflater.unused_data or inflater.unconsumed_tail
    if produced != member.size or not inflater.eof or trailing:
        found = f"more than {member.size}" if produced > member.size else f"{produced}"
        raise ArchiveRejected(
            f"{_shown(member.name)}: inflates to {found} bytes but the ZIP declares {member.size} (a damaged or "
            "crafted ZIP); re-create the ZIP"
        )
    return parts[0] if len(parts) == 1 else b"".join(parts)


def readable_size(size: int) -> str:
    """A byte count as a participant reads it (bytes, KiB or MiB)."""
    if size >= MiB:
        return f"{size / MiB:.1f} MiB"
    return f"{size / KiB:.1f} KiB" if size >= KiB else f"{size} bytes"
