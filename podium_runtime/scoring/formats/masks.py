"""The `masks` format (segmentation): a ZIP with one PNG label image per case, `<case>.png`, each pixel a class
index in 0..classes-1; the ground truth is a ZIP of the same shape. Both are read into one n×H×W stack of labels.

The ZIP goes through the scoring kit's archive checks before anything is inflated; each PNG's header (size, colour
type, bit depth) is checked against the ground truth before Pillow decodes a pixel, so no member can make the
decoder allocate more than one mask of the truth's size. Members decode on a few threads: zlib and Pillow's PNG
decoder release the GIL, and each thread writes straight into its row of a preallocated stack.
"""

from __future__ import annotations

import io
import math
import os
import struct
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from podium_runtime.scoring.archive import (
    ArchiveLimits,
    Member,
    inspect_archive,
    participant_data,
    read_directory,
    read_member,
    readable_size,
)
from podium_runtime.scoring.refusals import GroundTruthRejected, SubmissionRefused
from proto.competition import Split

SUFFIX = ".png"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Signature, then the IHDR chunk (length, type, width, height, bit depth, colour type, …): always first (PNG §5.6).
_IHDR = struct.Struct(">8sI4sIIBB")
_GRAYSCALE, _PALETTE = 0, 3
_COLOUR_TYPES = {0: "grayscale", 2: "RGB", 3: "palette", 4: "grayscale with alpha", 6: "RGBA"}
# Pillow scales 2- and 4-bit grayscale up to 0..255, which would turn label 1 into 85: refused with the fix instead.
_GRAYSCALE_DEPTHS = (1, 8, 16)
# Pillow's modes for the single-channel PNGs accepted (bilevel, 8-bit, palette indices, 16-bit).
_LABEL_MODES = ("1", "L", "P", "I;16")
# Entries beyond one per case that the ZIP may list, so that a stray file or folder entry is named as unexpected
# rather than refused by count; the count limit still bounds the work of parsing the directory.
_STRAY_ENTRIES = 16
# What a host's ground truth may hold once decoded (the scorer keeps it in memory between submissions).
MAX_TRUTH_BYTES = 2 << 30
GROUND_TRUTH_LIMITS = ArchiveLimits(max_entries=100_000, max_entry_bytes=64 << 20, max_total_bytes=4 << 30)
"""The ground truth's ZIP: the host's file, its case count not known before it is read."""


@dataclass(frozen=True)
class Masks:
    """A ground truth: case ids in order (sorted by name), their labels as one n×H×W stack (uint8, or uint16 for
    more than 256 classes), and which cases are private (the task's seeded split over that order)."""

    case_ids: tuple[str, ...]
    labels: np.ndarray
    private: np.ndarray
    classes: int


def read_ground_truth(
    data: bytes | memoryview, classes: int, split: Split, *, limits: ArchiveLimits = GROUND_TRUTH_LIMITS
) -> Masks:
    """A host's ground truth ZIP of `<case>.png` label images, all of one size with labels in 0..classes-1.
    Raises GroundTruthRejected with what to fix."""
    dtype = _label_dtype(classes)
    try:
        with participant_data("the ZIP"):
            directory, _ = read_directory(data, limits.max_entries)
        case_ids = sorted(
            {entry.name[: -len(SUFFIX)] for entry in directory if entry.name.endswith(SUFFIX) and entry.name != SUFFIX}
        )
        if not case_ids:
            raise SubmissionRefused(f"the ZIP holds no {SUFFIX} label image; put one <case>{SUFFIX} per case in it")
        with participant_data("the ZIP"):
            members = inspect_archive(data, case_ids, (SUFFIX,), limits)
        with participant_data(members[0].name):
            width, height = _png_size(members[0].name, read_member(data, members[0]))
        max_pixels = Image.MAX_IMAGE_PIXELS
        if max_pixels is not None and width * height > max_pixels:
            raise SubmissionRefused(
                f"{members[0].name}: {width}×{height} pixels; the limit is {max_pixels} pixels per mask"
            )
        total = len(case_ids) * width * height * np.dtype(dtype).itemsize
        if total > MAX_TRUTH_BYTES:
            raise SubmissionRefused(
                f"{len(case_ids)} masks of {width}×{height} take {readable_size(total)} decoded; the limit is "
                f"{readable_size(MAX_TRUTH_BYTES)}"
            )
        labels = _decode_all(data, members, (height, width), classes, dtype, f"the size of {members[0].name}")
    except SubmissionRefused as refusal:
        raise GroundTruthRejected(f"the ground truth: {refusal}") from None
    private = np.array(split.private_samples(len(case_ids)), dtype=bool)
    return Masks(case_ids=tuple(case_ids), labels=labels, private=private, classes=classes)


def read_submission(
    data: bytes | memoryview,
    truth: Masks,
    *,
    limits: ArchiveLimits = ArchiveLimits(),  # noqa: B008 - frozen, so one shared default is safe
    workers: int | None = None,
) -> np.ndarray:
    """A submission ZIP: one `<case>.png` per case of `truth`, each a single-channel label image of the truth's
    size with labels in 0..classes-1. Returns the n×H×W labels in the truth's case order (its dtype); raises
    SubmissionRefused with the first problem found (in case order, whatever the threads finish first)."""
    n, height, width = truth.labels.shape
    bound = _png_bound(height, width)
    sized = limits.sized_for(n, bound, f"a PNG label image of {width}×{height} pixels takes at most that")
    sized = replace(sized, max_entries=n + _STRAY_ENTRIES)
    with participant_data("the ZIP"):
        members = inspect_archive(data, truth.case_ids, (SUFFIX,), sized)
    shape, dtype = (height, width), truth.labels.dtype
    return _decode_all(data, members, shape, truth.classes, dtype, "the ground truth's size", workers)


def _decode_all(
    data: bytes | memoryview,
    members: Sequence[Member],
    shape: tuple[int, int],
    classes: int,
    dtype: np.dtype | type,
    expected_as: str,
    workers: int | None = None,
) -> np.ndarray:
    labels = np.empty((len(members), *shape), dtype=dtype)

    def decode_into(index: int) -> None:
        member = members[index]
        with participant_data(member.name):
            payload = read_member(data, member)
        labels[index] = _decode_png(member.name, payload, shape, classes, expected_as)

    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        try:
            # map() hands results back in case order, so the refusal reported is the first case's, every time.
            for _ in pool.map(decode_into, range(len(members))):
                pass
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # the cases not started yet are not worth decoding
            raise
    return labels


def _decode_png(
    name: str, payload: bytes | memoryview, shape: tuple[int, int], classes: int, expected_as: str
) -> np.ndarray:
    height, width = shape
    got_width, got_height = _png_size(name, payload)
    if (got_height, got_width) != shape:
        raise SubmissionRefused(
            f"{name}: the image is {got_width}×{got_height} pixels; expected {width}×{height} ({expected_as})"
        )
    _check_colour(name, bytes(payload[: _IHDR.size]))
    with participant_data(f"{name} (a PNG image)"):
        with Image.open(io.BytesIO(payload), formats=("PNG",)) as image:
            if image.mode not in _LABEL_MODES:
                raise SubmissionRefused(f"{name}: mode {image.mode}; {_LABEL_RULE}")
            image.load()
            values = np.asarray(image)
    top = int(values.max(initial=0))
    if top >= classes:
        row, column = np.argwhere(values >= classes)[0]
        raise SubmissionRefused(
            f"{name}: label {int(values[row, column])} at row {row}, column {column}; labels are 0..{classes - 1} "
            f"(the task has {classes} classes)"
        )
    return values


_LABEL_RULE = (
    "a mask is a single-channel label image (8- or 16-bit grayscale, or palette indices), each pixel its class "
    "index, not a colour picture"
)


def _png_size(name: str, payload: bytes | memoryview) -> tuple[int, int]:
    """Width and height from the PNG's header, read before any decoding."""
    header = bytes(payload[: _IHDR.size])
    if len(header) < _IHDR.size or not header.startswith(_PNG_SIGNATURE):
        raise SubmissionRefused(f"{name}: not a PNG image (no PNG signature); save each mask as PNG")
    _, length, chunk, width, height, _, _ = _IHDR.unpack(header)
    if chunk != b"IHDR" or length != 13:
        raise SubmissionRefused(f"{name}: a damaged PNG (its first chunk is not the header); save it again")
    return width, height


def _check_colour(name: str, header: bytes) -> None:
    *_, depth, colour = _IHDR.unpack(header)
    if colour not in (_GRAYSCALE, _PALETTE):
        kind = _COLOUR_TYPES.get(colour, f"colour type {colour}")
        raise SubmissionRefused(f"{name}: a {kind} image; {_LABEL_RULE}")
    if colour == _GRAYSCALE and depth not in _GRAYSCALE_DEPTHS:
        raise SubmissionRefused(f"{name}: {depth}-bit grayscale; save masks as 8- or 16-bit grayscale")


def _png_bound(height: int, width: int) -> int:
    """The largest honest PNG of a single-channel label image of this size: 16-bit samples stored without
    compression (one filter byte per row, a little framing), plus room for a palette and small ancillary chunks."""
    raw = height * (1 + 2 * width)
    return raw + math.ceil(raw / 64) + (64 << 10)


def _label_dtype(classes: int) -> type:
    if not 2 <= classes <= 1 << 16:
        raise ValueError(f"a masks task has 2..65536 classes, not {classes}")
    return np.uint8 if classes <= 1 << 8 else np.uint16
