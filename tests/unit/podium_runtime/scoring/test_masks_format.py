"""The masks format: a ZIP of `<case>.png` label images read into a checked n×H×W stack, every refusal with its
reason, and the ground truth read the same way."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from podium_runtime.ground_truth import GroundTruthRejected
from podium_runtime.scoring.archive import ArchiveRejected
from podium_runtime.scoring.formats import masks
from podium_runtime.scoring.refusals import SubmissionRefused
from proto.competition import Split

CLASSES = 4
HEIGHT, WIDTH = 12, 16
SPLIT = Split(private_fraction=0.5, seed=7)


def png(labels: np.ndarray, mode: str | None = None, **save: object) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(labels) if mode is None else Image.fromarray(labels).convert(mode)
    image.save(buffer, "PNG", **save)
    return buffer.getvalue()


def zipped(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def random_labels(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"case_{index:03d}": rng.integers(0, CLASSES, (HEIGHT, WIDTH), dtype=np.uint8) for index in range(n)}


def truth_of(labels: dict[str, np.ndarray]) -> masks.Masks:
    return masks.read_ground_truth(zipped({f"{case}.png": png(mask) for case, mask in labels.items()}), CLASSES, SPLIT)


def dice_per_class(prediction: np.ndarray, truth: np.ndarray, classes: int) -> np.ndarray:
    """Per-class Dice over the whole stack, 2·|P∩T| / (|P| + |T|), the plain way."""
    values = []
    for label in range(classes):
        predicted, actual = prediction == label, truth == label
        values.append(2 * np.sum(predicted & actual) / (np.sum(predicted) + np.sum(actual)))
    return np.array(values)


@pytest.fixture(scope="module")
def labels() -> dict[str, np.ndarray]:
    return random_labels(9)


@pytest.fixture(scope="module")
def truth(labels: dict[str, np.ndarray]) -> masks.Masks:
    return truth_of(labels)


def submission(labels: dict[str, np.ndarray], **replaced: bytes) -> bytes:
    members = {f"{case}.png": png(mask) for case, mask in labels.items()}
    members.update({name.replace("__", "."): content for name, content in replaced.items()})
    return zipped(members)


def test_the_ground_truth_is_read_in_case_order_with_the_tasks_split(labels: dict[str, np.ndarray]) -> None:
    shuffled = dict(reversed(labels.items()))
    truth = truth_of(shuffled)
    assert truth.case_ids == tuple(sorted(labels))
    assert truth.labels.shape == (9, HEIGHT, WIDTH) and truth.labels.dtype == np.uint8
    np.testing.assert_array_equal(truth.labels, np.stack([labels[case] for case in sorted(labels)]))
    assert truth.private.tolist() == SPLIT.private_samples(9)
    assert truth.classes == CLASSES


def test_a_perfect_submission_has_dice_one_for_every_class(labels, truth) -> None:
    shuffled = dict(reversed(labels.items()))  # member order in the ZIP does not matter
    prediction = masks.read_submission(submission(shuffled), truth)
    np.testing.assert_array_equal(prediction, truth.labels)
    np.testing.assert_array_equal(dice_per_class(prediction, truth.labels, CLASSES), np.ones(CLASSES))


def test_a_wrong_submission_scores_below_one(labels, truth) -> None:
    wrong = {case: (mask + 1) % CLASSES for case, mask in labels.items()}
    prediction = masks.read_submission(submission(wrong), truth)
    assert (dice_per_class(prediction, truth.labels, CLASSES) == 0).all()


@pytest.mark.parametrize("mode", ["L", "P", "I;16", "stored"])
def test_single_channel_label_images_are_accepted_in_each_pngs_mode(labels, truth, mode: str) -> None:
    if mode == "I;16":
        members = {f"{case}.png": png(mask.astype(np.uint16)) for case, mask in labels.items()}
    elif mode == "P":
        members = {f"{case}.png": png(mask, "P") for case, mask in labels.items()}
    else:
        members = {f"{case}.png": png(mask) for case, mask in labels.items()}
    method = zipfile.ZIP_STORED if mode == "stored" else zipfile.ZIP_DEFLATED
    with Image.open(io.BytesIO(next(iter(members.values())))) as opened:
        assert opened.mode == ("L" if mode == "stored" else mode)
    prediction = masks.read_submission(zipped(members, method), truth)
    np.testing.assert_array_equal(prediction, truth.labels)


def test_a_bilevel_png_reads_as_labels_zero_and_one(truth: masks.Masks) -> None:
    binary = {case: (truth.labels[index] > 1) for index, case in enumerate(truth.case_ids)}
    prediction = masks.read_submission(zipped({f"{case}.png": png(mask) for case, mask in binary.items()}), truth)
    np.testing.assert_array_equal(prediction, (truth.labels > 1).astype(np.uint8))


def test_missing_cases_are_counted_and_the_first_named(labels, truth) -> None:
    kept = dict(list(labels.items())[:2])
    with pytest.raises(SubmissionRefused, match=r"7 samples are missing from the ZIP: case_002, case_003, case_004"):
        masks.read_submission(submission(kept), truth)


def test_an_unexpected_member_is_named(labels, truth) -> None:
    with pytest.raises(SubmissionRefused, match=r"notes\.txt: unexpected file in the ZIP; expected only case_000"):
        masks.read_submission(submission(labels, notes__txt=b"hello"), truth)


def test_a_png_that_does_not_decode_is_refused_with_its_member(labels, truth) -> None:
    damaged = png(labels["case_004"])
    damaged = damaged[:40] + bytes(len(damaged) - 40)  # header intact, pixel data gone
    with pytest.raises(SubmissionRefused, match=r"^case_004\.png \(a PNG image\): cannot be read \(") as refused:
        masks.read_submission(submission(labels, case_004__png=damaged), truth)
    assert not isinstance(refused.value, GroundTruthRejected)


def test_a_file_that_is_not_a_png_is_refused(labels, truth) -> None:
    with pytest.raises(SubmissionRefused, match=r"^case_001\.png: not a PNG image \(no PNG signature\)"):
        masks.read_submission(submission(labels, case_001__png=b"GIF89a not a png at all, not at all"), truth)


def test_a_wrong_size_names_the_member_what_it_got_and_what_was_expected(labels, truth) -> None:
    small = np.zeros((HEIGHT, WIDTH - 1), dtype=np.uint8)
    reason = r"^case_002\.png: the image is 15×12 pixels; expected 16×12 \(the ground truth's size\)"
    with pytest.raises(SubmissionRefused, match=reason):
        masks.read_submission(submission(labels, case_002__png=png(small)), truth)


def test_a_png_claiming_a_huge_size_is_refused_before_any_decoding(labels, truth) -> None:
    """A decompression bomb's header: 100,000 × 100,000 pixels. The size check reads the header only."""
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sIIBBBBB", 13, b"IHDR", 100_000, 100_000, 8, 0, 0, 0, 0)
    header += struct.pack(">I", zlib.crc32(header[12:]))
    bomb = header + struct.pack(">I4s", 0, b"IEND")
    with pytest.raises(SubmissionRefused, match=r"^case_000\.png: the image is 100000×100000 pixels; expected 16×12"):
        masks.read_submission(submission(labels, case_000__png=bomb), truth)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("RGB", r"a RGB image; a mask is a single-channel label image"),
        ("RGBA", r"a RGBA image; a mask is a single-channel label image"),
        ("LA", r"a grayscale with alpha image; a mask is a single-channel label image"),
    ],
)
def test_a_colour_picture_is_refused_as_the_wrong_mode(labels, truth, mode: str, reason: str) -> None:
    with pytest.raises(SubmissionRefused, match=rf"^case_003\.png: {reason}"):
        masks.read_submission(submission(labels, case_003__png=png(labels["case_003"], mode)), truth)


def test_a_two_bit_grayscale_png_is_refused_with_the_fix(labels, truth) -> None:
    with pytest.raises(SubmissionRefused, match=r"^case_003\.png: 2-bit grayscale; save masks as 8- or 16-bit"):
        masks.read_submission(submission(labels, case_003__png=png(labels["case_003"], bits=2)), truth)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_label_outside_the_classes_names_the_member_and_value(labels, truth, dtype) -> None:
    bad = labels["case_005"].astype(dtype)
    bad[3, 5] = 300 if dtype == np.uint16 else 9
    reason = rf"^case_005\.png: label {bad[3, 5]} at row 3, column 5; labels are 0\.\.3 \(the task has 4 classes\)"
    with pytest.raises(SubmissionRefused, match=reason):
        masks.read_submission(submission(labels, case_005__png=png(bad)), truth)


def test_the_first_bad_case_is_the_one_reported(labels, truth) -> None:
    """Members decode on several threads; the refusal is still the first case's in the truth's order."""
    bad = {f"case_{index:03d}__png": png(np.full((HEIGHT, WIDTH), 9, dtype=np.uint8)) for index in range(3, 9)}
    for _ in range(5):
        with pytest.raises(SubmissionRefused, match=r"^case_003\.png: label 9"):
            masks.read_submission(submission(labels, **bad), truth, workers=4)


def test_a_zip_bomb_is_refused_by_its_size_before_inflating(labels, truth) -> None:
    bomb = zipped({**{f"{case}.png": png(mask) for case, mask in labels.items()}, "case_006.png": bytes(50 << 20)})
    assert len(bomb) < 1 << 20
    reason = r"^case_006\.png: 50\.0 MiB uncompressed; the limit is .* per file \(a PNG label image of 16×12"
    with pytest.raises(ArchiveRejected, match=reason):
        masks.read_submission(bomb, truth)


def test_a_parent_directory_name_is_refused(labels, truth) -> None:
    with pytest.raises(ArchiveRejected, match=r"\.\./case_000\.png: paths with '\.\.' are not accepted"):
        masks.read_submission(submission(labels, **{"../case_000__png": b"x"}), truth)


def test_not_a_zip_is_refused(truth: masks.Masks) -> None:
    with pytest.raises(SubmissionRefused, match=r"the upload is not a ZIP archive"):
        masks.read_submission(b"just some bytes", truth)


def test_a_ground_truth_of_mixed_sizes_is_refused_for_the_host(labels) -> None:
    members = {f"{case}.png": png(mask) for case, mask in labels.items()}
    members["case_004.png"] = png(np.zeros((HEIGHT + 1, WIDTH), dtype=np.uint8))
    with pytest.raises(GroundTruthRejected, match=r"^the ground truth: case_004\.png: the image is 16×13 pixels; "
                       r"expected 16×12 \(the size of case_000\.png\)"):
        masks.read_ground_truth(zipped(members), CLASSES, SPLIT)


def test_a_ground_truth_label_outside_the_classes_is_refused_for_the_host(labels) -> None:
    members = {f"{case}.png": png(mask) for case, mask in labels.items()}
    with pytest.raises(GroundTruthRejected, match=r"^the ground truth: case_000\.png: label 3 at row"):
        masks.read_ground_truth(zipped(members), 3, SPLIT)


def test_a_ground_truth_without_pngs_is_refused() -> None:
    with pytest.raises(GroundTruthRejected, match=r"the ZIP holds no \.png label image"):
        masks.read_ground_truth(zipped({"readme.txt": b"hello"}), CLASSES, SPLIT)


def test_a_ground_truth_mask_over_pillows_pixel_limit_is_refused(labels, monkeypatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", HEIGHT * WIDTH - 1)
    with pytest.raises(GroundTruthRejected, match=r"case_000\.png: 16×12 pixels; the limit is 191 pixels per mask"):
        truth_of(labels)


def test_more_than_256_classes_take_sixteen_bits() -> None:
    labels = {"a": np.array([[0, 299], [1000, 2]], dtype=np.uint16)}
    truth = masks.read_ground_truth(zipped({"a.png": png(labels["a"])}), 1001, Split(private_fraction=0.0))
    assert truth.labels.dtype == np.uint16
    np.testing.assert_array_equal(truth.labels[0], labels["a"])
    assert truth.private.tolist() == [False]
