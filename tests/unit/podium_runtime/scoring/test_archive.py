"""The submission ZIP reader: every bad archive is refused with a reason, before anything is inflated."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium_runtime.scoring.archive import (
    DEFLATED,
    STORED,
    ArchiveLimits,
    ArchiveRejected,
    inspect_archive,
    inspect_members,
    iter_members,
    read_member,
)

SUFFIXES = (".pt", ".npy", ".safetensors")
SAMPLES = [f"sample_{index:04d}" for index in range(3)]
LIMITS = ArchiveLimits()


def zip_of(files: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def sample_files(samples: list[str] = SAMPLES, suffix: str = ".pt") -> dict[str, bytes]:
    return {f"{sample}{suffix}": f"content of {sample}".encode() * 10 for sample in samples}


@dataclass
class RawEntry:
    """One member of a hand-built ZIP; the overrides make headers lie or point elsewhere."""

    name: str
    content: bytes
    method: int = STORED
    flags: int = 0
    local_sizes: tuple[int, int] | None = None
    central_sizes: tuple[int, int] | None = None
    central_offset: int | None = None
    write_local: bool = True


def build_zip(entries: list[RawEntry]) -> bytes:
    """A ZIP written field by field with struct, so that tests can make it lie."""
    out = bytearray()
    offsets: list[int] = []
    for entry in entries:
        name, crc, compressed = entry.name.encode(), zlib.crc32(entry.content), _compress(entry)
        offsets.append(len(out))
        if entry.write_local:
            compressed_size, size = entry.local_sizes or (len(compressed), len(entry.content))
            out += struct.pack(
                "<4sHHHHHIIIHH",
                b"PK\x03\x04",
                20,
                entry.flags,
                entry.method,
                0,
                0x21,
                crc,
                compressed_size,
                size,
                len(name),
                0,
            )
            out += name + compressed
    cd_offset = len(out)
    for entry, offset in zip(entries, offsets, strict=True):
        name, crc, compressed = entry.name.encode(), zlib.crc32(entry.content), _compress(entry)
        compressed_size, size = entry.central_sizes or (len(compressed), len(entry.content))
        header_offset = offset if entry.central_offset is None else entry.central_offset
        out += struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            entry.flags,
            entry.method,
            0,
            0x21,
            crc,
            compressed_size,
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            header_offset,
        )
        out += name
    out += struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(out) - cd_offset, cd_offset, 0
    )
    return bytes(out)


def _compress(entry: RawEntry) -> bytes:
    if entry.method != DEFLATED:
        return entry.content
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(entry.content) + compressor.flush()


@contextmanager
def nothing_inflated() -> Iterator[None]:
    with mock.patch.object(zlib, "decompressobj", side_effect=AssertionError("inflated before the checks")):
        yield


def refusal(data: bytes, samples: list[str] = SAMPLES, limits: ArchiveLimits = LIMITS) -> str:
    with nothing_inflated(), pytest.raises(ArchiveRejected) as refused:
        inspect_archive(data, samples, SUFFIXES, limits)
    return str(refused.value)


# --- archives that are accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_valid_archive_yields_every_member_in_sample_order(method: int) -> None:
    files = sample_files()
    data = zip_of(dict(reversed(files.items())), method)

    members = list(iter_members(data, SAMPLES, SUFFIXES, LIMITS))

    assert [member.sample for member, _ in members] == SAMPLES
    assert {member.name: bytes(content) for member, content in members} == files


def test_stored_members_are_views_of_the_archive_not_copies() -> None:
    data = zip_of(sample_files())
    member = inspect_archive(data, SAMPLES, SUFFIXES, LIMITS)[0]
    assert isinstance(read_member(data, member), memoryview)


def test_a_memoryview_of_the_archive_is_accepted() -> None:
    data = zip_of(sample_files(), zipfile.ZIP_DEFLATED)
    members = list(iter_members(memoryview(data), SAMPLES, SUFFIXES, LIMITS))
    assert len(members) == len(SAMPLES)


class _Unseekable(io.RawIOBase):
    """A write-only stream, so that zipfile streams its members with data descriptors."""

    def __init__(self) -> None:
        self.written = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk: bytes) -> int:  # type: ignore[override]
        self.written += chunk
        return len(chunk)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_streamed_archive_with_data_descriptors_is_accepted(method: int) -> None:
    stream = _Unseekable()
    with zipfile.ZipFile(stream, "w", method) as archive:
        for name, content in sample_files().items():
            archive.writestr(name, content)
    data = bytes(stream.written)
    assert all(info.flag_bits & 0x08 for info in zipfile.ZipFile(io.BytesIO(data)).infolist())

    members = list(iter_members(data, SAMPLES, SUFFIXES, LIMITS))

    assert {member.name: bytes(content) for member, content in members} == sample_files()


def test_zip64_local_headers_of_small_members_are_accepted() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sample_files().items():
            with archive.open(name, "w", force_zip64=True) as member:
                member.write(content)

    members = list(iter_members(buffer.getvalue(), SAMPLES, SUFFIXES, LIMITS))

    assert {member.name: bytes(content) for member, content in members} == sample_files()


def test_members_may_mix_the_accepted_formats() -> None:
    files = {"sample_0000.pt": b"a", "sample_0001.npy": b"b", "sample_0002.safetensors": b"c"}
    members = inspect_archive(zip_of(files), SAMPLES, SUFFIXES, LIMITS)
    assert [member.name for member in members] == list(files)


# --- archives that are not ZIPs --------------------------------------------------------------------------------


def test_an_empty_upload_is_refused() -> None:
    assert "not a ZIP archive" in refusal(b"")


def test_a_non_zip_upload_is_refused() -> None:
    assert "not a ZIP archive" in refusal(b"\x89PNG\r\n\x1a\n" + bytes(200))


def test_a_zip_with_no_members_reports_every_missing_sample() -> None:
    assert refusal(zip_of({})) == "3 samples are missing from the ZIP: sample_0000, sample_0001, sample_0002"


def test_a_truncated_zip_is_refused() -> None:
    data = zip_of(sample_files())
    assert "not a ZIP archive" in refusal(data[:-10])


# --- limits ----------------------------------------------------------------------------------------------------


def test_a_member_that_compresses_a_thousandfold_is_accepted_within_the_size_limit() -> None:
    # How well a member compresses says nothing against it: a constant prediction deflates ~1000:1.
    files = sample_files()
    files["sample_0001.pt"] = bytes(8 * 1024 * 1024)
    data = zip_of(files, zipfile.ZIP_DEFLATED)
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo("sample_0001.pt")
    assert info.file_size / info.compress_size > 1000

    members = {member.name: bytes(content) for member, content in iter_members(data, SAMPLES, SUFFIXES, LIMITS)}

    assert members == files


class _CountingInflater:
    """zlib's inflater, counting the compressed bytes it reads and the bytes it inflates."""

    def __init__(self, counts: dict[str, int], inflater: zlib._Decompress) -> None:
        self.counts, self.inflater = counts, inflater

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        out = self.inflater.decompress(data, max_length)
        self.counts["read"] += len(data) - len(self.inflater.unconsumed_tail)
        self.counts["inflated"] += len(out)
        return out

    def __getattr__(self, name: str) -> object:
        return getattr(self.inflater, name)


@contextmanager
def counted_inflation() -> Iterator[dict[str, int]]:
    counts = {"read": 0, "inflated": 0}
    real = zlib.decompressobj
    with mock.patch.object(zlib, "decompressobj", lambda *args: _CountingInflater(counts, real(*args))):
        yield counts


def test_a_zip_bomb_is_refused_by_its_size_before_anything_is_inflated() -> None:
    files = sample_files()
    files["sample_0001.pt"] = bytes(64 * 1024 * 1024)  # 64 MiB of zeros: ~64 KB deflated
    data = zip_of(files, zipfile.ZIP_DEFLATED)
    limits = ArchiveLimits().sized_for(len(SAMPLES), 100_000, "one sample's tensor plus its header")

    with counted_inflation() as counts, pytest.raises(ArchiveRejected) as refused:
        list(iter_members(data, SAMPLES, SUFFIXES, limits))

    assert str(refused.value) == (
        "sample_0001.pt: 64.0 MiB uncompressed; the limit is 97.7 KiB per file (one sample's tensor plus its header)"
    )
    assert counts == {"read": 0, "inflated": 0}


def test_a_member_whose_headers_understate_its_size_is_stopped_at_the_declared_size() -> None:
    # Both headers say 1000 bytes; the data inflates to 64 MiB. Inflation stops one byte past what is declared.
    entries = [RawEntry(name, content) for name, content in sample_files().items()]
    entries[1] = RawEntry("sample_0001.pt", bytes(64 * 1024 * 1024), DEFLATED)
    compressed_size = len(_compress(entries[1]))
    entries[1].central_sizes = entries[1].local_sizes = (compressed_size, 1000)
    data = build_zip(entries)
    limits = ArchiveLimits().sized_for(len(SAMPLES), 100_000, "one sample's tensor plus its header")

    with counted_inflation() as counts, pytest.raises(ArchiveRejected) as refused:
        list(iter_members(data, SAMPLES, SUFFIXES, limits))

    assert str(refused.value) == (
        "sample_0001.pt: inflates to more than 1000 bytes but the ZIP declares 1000 (a damaged or crafted ZIP); "
        "re-create the ZIP"
    )
    assert counts["inflated"] == 1001
    assert counts["read"] < 1024 < compressed_size


def test_an_overlapping_entry_bomb_is_refused_before_inflating() -> None:
    # Three directory entries share one local header and its data: each would inflate the same bytes again.
    payload = bytes(range(256)) * 64
    entries = [RawEntry("sample_0000.pt", payload, DEFLATED)]
    entries += [
        RawEntry(name, payload, DEFLATED, central_offset=0, write_local=False)
        for name in ("sample_0001.pt", "sample_0002.pt")
    ]
    message = refusal(build_zip(entries))
    assert "overlaps sample_0000.pt inside the ZIP" in message
    assert "overlapping-file ZIP bombs" in message


def test_an_entry_whose_data_runs_into_the_central_directory_is_refused() -> None:
    entries = [RawEntry(f"{sample}.pt", b"x" * 100) for sample in SAMPLES]
    entries[2].central_sizes = (10_000, 10_000)
    entries[2].local_sizes = (10_000, 10_000)
    assert refusal(build_zip(entries)) == "sample_0002.pt: its data runs into the central directory"


def test_too_many_entries_are_refused_before_the_directory_is_parsed() -> None:
    data = zip_of(sample_files())
    assert refusal(data, limits=ArchiveLimits(max_entries=2)) == "the ZIP has 3 entries; the limit is 2"


def test_a_member_over_the_size_limit_is_refused() -> None:
    files = sample_files()
    files["sample_0002.pt"] = b"y" * 3000
    message = refusal(zip_of(files), limits=ArchiveLimits(max_entry_bytes=2048))
    assert message == "sample_0002.pt: 2.9 KiB uncompressed; the limit is 2.0 KiB per file"


def test_a_member_over_a_tasks_size_says_where_the_limit_comes_from() -> None:
    files = sample_files()
    files["sample_0002.pt"] = b"y" * 3000
    message = refusal(zip_of(files), limits=LIMITS.sized_for(len(SAMPLES), 2048, "one 16×16 float tensor"))
    assert message == "sample_0002.pt: 2.9 KiB uncompressed; the limit is 2.0 KiB per file (one 16×16 float tensor)"


def test_a_tasks_size_limits_replace_the_defaults_and_keep_the_entry_count() -> None:
    sized = ArchiveLimits(max_entries=7).sized_for(300, 1000, "rule")
    assert sized == ArchiveLimits(max_entries=7, max_entry_bytes=1000, max_total_bytes=300_000, entry_rule="rule")


def test_members_over_the_total_size_limit_are_refused() -> None:
    message = refusal(zip_of(sample_files()), limits=ArchiveLimits(max_total_bytes=500))
    assert message == "the files add up to 660 bytes uncompressed; the limit is 500 bytes"


# --- names -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x.pt", "../x.pt: paths with '..' are not accepted"),
        ("../../etc/sample_0000.pt", "../../etc/sample_0000.pt: paths with '..' are not accepted"),
        ("/abs.pt", "/abs.pt: absolute paths are not accepted"),
        ("\\abs.pt", "\\abs.pt: absolute paths are not accepted"),
        ("C:sample_0000.pt", "C:sample_0000.pt: absolute paths are not accepted"),
        ("a/b.pt", "a/b.pt: folders are not accepted"),
        ("results/sample_0000.pt", "results/sample_0000.pt: folders are not accepted"),
        ("a\\b.pt", "a\\b.pt: folders are not accepted"),
        ("results/", "results/: folders are not accepted"),
    ],
)
def test_zip_slip_and_folder_names_are_refused(name: str, reason: str) -> None:
    files = sample_files()
    files[name] = b"payload"
    assert refusal(build_zip([RawEntry(n, c) for n, c in files.items()])).startswith(reason)


def test_a_name_with_a_nul_byte_is_refused() -> None:
    data = build_zip([RawEntry("sample_0000.pt\x00../evil", b"x")])
    assert "entry names may not contain NUL bytes" in refusal(data)


def test_a_duplicate_name_is_refused() -> None:
    entries = [RawEntry(name, content) for name, content in sample_files().items()]
    entries.append(RawEntry("sample_0001.pt", b"second copy"))
    assert refusal(build_zip(entries)) == "sample_0001.pt appears twice in the ZIP"


def test_one_sample_in_two_formats_is_refused() -> None:
    files = sample_files()
    files["sample_0001.npy"] = b"another"
    message = refusal(zip_of(files))
    assert message == "sample_0001 is given twice (sample_0001.pt and sample_0001.npy); keep one"


def test_a_missing_member_is_refused_by_name() -> None:
    files = sample_files()
    del files["sample_0001.pt"]
    message = refusal(zip_of(files))
    assert message == "sample_0001 is missing from the ZIP (expected sample_0001 as .pt, .npy or .safetensors)"


def test_an_extra_member_is_refused_by_name() -> None:
    files = sample_files()
    files["notes.txt"] = b"hello"
    message = refusal(zip_of(files))
    assert message.startswith("notes.txt: unexpected file in the ZIP; expected only sample_0000 … sample_0002")


def test_a_sample_with_an_unknown_suffix_is_refused() -> None:
    files = sample_files()
    files["sample_0003.png"] = b"img"
    assert refusal(zip_of(files)).startswith("sample_0003.png: unexpected file in the ZIP")


# --- lying or unsupported headers ------------------------------------------------------------------------------


def test_a_local_header_lying_about_sizes_is_refused() -> None:
    entries = [RawEntry(name, content) for name, content in sample_files().items()]
    entries[1].local_sizes = (5, 5)
    message = refusal(build_zip(entries))
    assert message.startswith("sample_0001.pt: its local header states sizes 5/5 bytes but the central directory says")
    assert "a header lying about sizes is refused" in message


def test_a_local_header_naming_another_file_is_refused() -> None:
    entries = [RawEntry(name, content) for name, content in sample_files().items()]
    data = bytearray(build_zip(entries))
    first_local_name = data.index(b"sample_0000.pt")
    data[first_local_name : first_local_name + 14] = b"sample_9999.pt"
    assert "its local header names a different file" in refusal(bytes(data))


def test_a_central_directory_understating_the_size_is_caught_while_inflating() -> None:
    entries = [RawEntry(name, content * 50, DEFLATED) for name, content in sample_files().items()]
    compressed_size = len(_compress(entries[0]))
    entries[0].central_sizes = entries[0].local_sizes = (compressed_size, 10)
    data = build_zip(entries)
    member = inspect_archive(data, SAMPLES, SUFFIXES, LIMITS)[0]
    with pytest.raises(ArchiveRejected, match="inflates to more than 10 bytes but the ZIP declares 10"):
        read_member(data, member)


def test_a_corrupted_member_fails_its_crc() -> None:
    data = bytearray(zip_of(sample_files()))
    position = data.index(b"content of sample_0002")
    data[position] ^= 0xFF
    member = inspect_archive(bytes(data), SAMPLES, SUFFIXES, LIMITS)[2]
    with pytest.raises(ArchiveRejected, match="sample_0002.pt: CRC mismatch"):
        read_member(bytes(data), member)


def test_an_encrypted_entry_is_refused() -> None:
    entries = [RawEntry(name, content) for name, content in sample_files().items()]
    entries[0].flags = 0x01
    assert refusal(build_zip(entries)) == (
        "sample_0000.pt: is encrypted (password-protected); send the ZIP without a password"
    )


@pytest.mark.parametrize(("method", "label"), [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "lzma")])
def test_an_unsupported_compression_method_is_refused(method: int, label: str) -> None:
    message = refusal(zip_of(sample_files(), method))
    assert message == (
        f"sample_0000.pt: compression {label} is not accepted; use STORED or DEFLATED (the default of zip tools)"
    )


def test_a_stored_entry_with_two_different_sizes_is_refused() -> None:
    entries = [RawEntry(name, content) for name, content in sample_files().items()]
    entries[0].central_sizes = (len(entries[0].content), len(entries[0].content) + 1)
    assert "stored without compression but its two sizes differ" in refusal(build_zip(entries))


# --- property: the limits hold for any generated archive ------------------------------------------------------

contents = st.one_of(
    st.binary(max_size=3000),
    st.builds(lambda length, byte: bytes([byte]) * length, st.integers(0, 60_000), st.integers(0, 255)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(st.tuples(contents, st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])), max_size=6),
    limits=st.builds(
        ArchiveLimits,
        max_entries=st.integers(0, 8),
        max_entry_bytes=st.integers(0, 70_000),
        max_total_bytes=st.integers(0, 200_000),
    ),
)
def test_any_archive_over_a_limit_is_refused_before_inflating(
    files: list[tuple[bytes, int]], limits: ArchiveLimits
) -> None:
    samples = [f"sample_{index:04d}" for index in range(len(files))]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for sample, (content, method) in zip(samples, files, strict=True):
            archive.writestr(f"{sample}.pt", content, compress_type=method)
    data = buffer.getvalue()
    infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    over_limits = (
        len(infos) > limits.max_entries
        or any(info.file_size > limits.max_entry_bytes for info in infos)
        or sum(info.file_size for info in infos) > limits.max_total_bytes
    )

    if over_limits:
        with nothing_inflated(), pytest.raises(ArchiveRejected):
            inspect_archive(data, samples, SUFFIXES, limits)
    else:
        with nothing_inflated():
            members = inspect_archive(data, samples, SUFFIXES, limits)
        assert [bytes(read_member(data, member)) for member in members] == [content for content, _ in files]


# --- archives whose member names are not known in advance (inspect_members) ----------------------------------------


def members_refusal(data: bytes, limits: ArchiveLimits = LIMITS) -> str:
    with nothing_inflated(), pytest.raises(ArchiveRejected) as refused:
        inspect_members(data, limits)
    return str(refused.value)


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_any_names_are_returned_in_the_directorys_order(method: int) -> None:
    files = {"scores.csv": b"id,value\n1,2\n", "README": b"read me", "predictions.json": b"[1, 2]"}
    data = zip_of(files, method)
    with nothing_inflated():
        members = inspect_members(data, LIMITS)
    assert [member.name for member in members] == list(files)
    assert [bytes(read_member(data, member)) for member in members] == list(files.values())


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.txt", "../evil.txt: paths with '..' are not accepted"),
        ("/etc/passwd", "/etc/passwd: absolute paths are not accepted"),
        ("C:evil.txt", "C:evil.txt: absolute paths are not accepted"),
        ("results/answer.txt", "results/answer.txt: folders are not accepted"),
        ("results\\answer.txt", "results\\answer.txt: folders are not accepted"),
    ],
)
def test_unknown_names_are_refused_as_a_submissions_are(name: str, reason: str) -> None:
    data = build_zip([RawEntry("answer.txt", b"42"), RawEntry(name, b"payload")])
    assert members_refusal(data).startswith(reason)


def test_unknown_names_meet_the_same_limits_and_bomb_checks() -> None:
    assert members_refusal(zip_of({"a": b"1", "b": b"2"}), ArchiveLimits(max_entries=1)) == (
        "the ZIP has 2 entries; the limit is 1")
    assert members_refusal(zip_of({"a": b"y" * 3000}), ArchiveLimits(max_entry_bytes=2048)) == (
        "a: 2.9 KiB uncompressed; the limit is 2.0 KiB per file")
    assert members_refusal(zip_of({"a": b"y" * 3000, "b": b"y" * 3000}), ArchiveLimits(max_total_bytes=5000)) == (
        "the files add up to 5.9 KiB uncompressed; the limit is 4.9 KiB")
    payload = bytes(range(256)) * 64
    bomb = [RawEntry("a", payload, DEFLATED), RawEntry("b", payload, DEFLATED, central_offset=0, write_local=False)]
    assert "overlaps a inside the ZIP" in members_refusal(build_zip(bomb))
    duplicate = build_zip([RawEntry("a", b"1"), RawEntry("a", b"2")])
    assert members_refusal(duplicate) == "a appears twice in the ZIP"
