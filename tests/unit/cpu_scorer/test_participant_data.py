"""Podium issue 16, item 5: whatever goes wrong decoding a participant's file is the participant's mistake — a
refusal (ArchiveRejected) with a reason, never an exception the job would retry as the platform's fault. The hostile
files are built here: a meta tensor, a nested tensor, a negated view, a conjugated complex view (torch.save), and
safetensors headers with dtypes the library cannot map (F4, F6_E2M3, F8_E8M0)."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zipfile

import numpy as np
import pytest
import torch

from cpu_scorer import tensors
from cpu_scorer.scoring import score_archive
from cpu_scorer.tensors import decode_sample
from podium_runtime.jobs import JobCancelled
from podium_runtime.scoring.archive import ArchiveLimits, ArchiveRejected, iter_members, participant_data

SHAPE = (2, 4)


def pt_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def safetensors_bytes(dtype: str, nbytes: int, *, shape: tuple[int, ...] = SHAPE) -> bytes:
    """A .safetensors file as its format defines it: an 8-byte header length, the JSON header, the data."""
    header = json.dumps({"prediction": {"dtype": dtype, "shape": list(shape), "data_offsets": [0, nbytes]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * nbytes


def refusal(name: str, payload: bytes) -> str:
    with pytest.raises(ArchiveRejected) as refused:
        decode_sample(name, payload, SHAPE)
    return str(refused.value)


def nested_tensor() -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "the PyTorch API of nested tensors is in prototype stage"
        return torch.nested.nested_tensor([torch.zeros(4), torch.zeros(4)])


def test_a_meta_tensor_is_refused() -> None:
    message = refusal("sample_0000.pt", pt_bytes(torch.empty(SHAPE, device="meta")))
    assert message == ("sample_0000.pt: holds a tensor on device 'meta', without its values; save a tensor that "
                       "holds them")


def test_a_nested_tensor_is_refused() -> None:
    assert refusal("sample_0000.pt", pt_bytes(nested_tensor())) == (
        "sample_0000.pt: holds a nested tensor, expected one dense tensor; save one tensor with "
        "torch.save(tensor, path)")


def test_a_negated_view_is_read_with_its_sign() -> None:
    values = torch.arange(8, dtype=torch.float32).reshape(SHAPE) / 8
    view = torch._neg_view(values)  # pyright: ignore[reportPrivateImportUsage]  # only this makes a negated view
    assert view.is_neg()
    decoded = decode_sample("sample_0000.pt", pt_bytes(view), SHAPE)
    np.testing.assert_array_equal(decoded, -values.numpy())


def test_a_conjugated_complex_view_is_refused_by_its_dtype() -> None:
    view = torch.zeros(SHAPE, dtype=torch.complex64).conj()
    assert view.is_conj()
    assert refusal("sample_0000.pt", pt_bytes(view)) == (
        "sample_0000.pt: dtype complex64, expected float32, float16, bfloat16 or float64")


@pytest.mark.parametrize(("dtype", "nbytes"), [("F4", 4), ("F6_E2M3", 6), ("F6_E3M2", 6), ("F8_E8M0", 8)])
def test_a_safetensors_dtype_the_library_cannot_map_is_refused(dtype: str, nbytes: int) -> None:
    assert refusal("sample_0000.safetensors", safetensors_bytes(dtype, nbytes)) == (
        f"sample_0000.safetensors: dtype {dtype!r}, expected float32, float16, bfloat16 or float64")


def test_a_safetensors_dtype_code_is_quoted_cut_short() -> None:
    message = refusal("sample_0000.safetensors", safetensors_bytes("X" * 500, 8))
    assert message == ("sample_0000.safetensors: dtype 'XXXXXXXXXXXXXXXXXXXX', expected float32, float16, bfloat16 or "
                       "float64")


def test_a_safetensors_header_that_lies_about_the_data_is_refused_by_the_library() -> None:
    message = refusal("sample_0000.safetensors", safetensors_bytes("F32", 8))  # 8 values need 32 bytes
    assert message.startswith("sample_0000.safetensors: not a .safetensors file that can be read")


@pytest.mark.parametrize("error", [KeyError("F8_E8M0"), RuntimeError("Internal error: NestedTensorImpl"),
                                   TypeError("can't convert meta device type tensor"), IndexError("list index"),
                                   AttributeError("'NoneType' object has no attribute 'shape'")])
def test_any_error_of_a_decoding_library_is_a_refusal_naming_the_file(
    error: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    def decoder(name: str, payload: bytes, shape: tuple[int, ...]) -> np.ndarray:
        raise error

    monkeypatch.setitem(tensors.DECODERS, ".pt", decoder)
    message = refusal("sample_0003.pt", b"anything")
    assert message == f"sample_0003.pt: cannot be read ({type(error).__name__}: {str(error).splitlines()[0]})"


def test_memory_error_while_decoding_is_a_refusal_as_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    def decoder(name: str, payload: bytes, shape: tuple[int, ...]) -> np.ndarray:
        raise MemoryError

    monkeypatch.setitem(tensors.DECODERS, ".npy", decoder)
    assert refusal("sample_0001.npy", b"x") == (
        "sample_0001.npy: too large to read in the memory a scorer has for one file")


def test_a_long_library_message_is_cut_to_its_first_line() -> None:
    with pytest.raises(ArchiveRejected) as refused, participant_data("sample_0000.pt"):
        raise ValueError("x" * 1000 + "\nsecond line")
    assert str(refused.value) == f"sample_0000.pt: cannot be read (ValueError: {'x' * 200})"


def test_what_is_not_about_the_file_passes_through() -> None:
    """KeyboardInterrupt and SystemExit are not errors of the file's bytes."""
    for raised in (KeyboardInterrupt(), SystemExit(1)):
        with pytest.raises(type(raised)), participant_data("sample_0000.pt"):
            raise raised


def test_an_error_reading_the_zip_itself_is_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise struct.error("unpack_from requires a buffer of at least 46 bytes")

    monkeypatch.setattr("podium_runtime.scoring.archive.inspect_archive", broken)
    with pytest.raises(ArchiveRejected, match=r"^the ZIP: cannot be read \(error: unpack_from requires"):
        list(iter_members(b"PK", ["sample_0000"], (".npy",), ArchiveLimits()))


def archive_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("member", ["meta.pt", "nested.pt", "f8_e8m0.safetensors"])
def test_a_hostile_member_fails_the_whole_archive_with_its_name(member: str) -> None:
    truth = {f"sample_{i:04d}": np.full(SHAPE, i / 4, np.float32) for i in range(3)}
    hostile = {"meta.pt": pt_bytes(torch.empty(SHAPE, device="meta")), "nested.pt": pt_bytes(nested_tensor()),
               "f8_e8m0.safetensors": safetensors_bytes("F8_E8M0", 8)}[member]
    suffix = member[member.index("."):]
    members = {"sample_0000.npy": _npy(truth["sample_0000"]), f"sample_0001{suffix}": hostile,
               "sample_0002.npy": _npy(truth["sample_0002"])}
    with pytest.raises(ArchiveRejected, match=rf"^sample_0001\{suffix}: "):
        score_archive(archive_of(members), truth, private_mask=np.array([False, True, False]))


def test_a_cancellation_between_samples_is_not_taken_for_the_files_fault() -> None:
    truth = {f"sample_{i:04d}": np.full(SHAPE, i / 4, np.float32) for i in range(2)}

    def progress(done: int, total: int) -> None:
        raise JobCancelled("sub-1")

    with pytest.raises(JobCancelled):
        score_archive(archive_of({f"{k}.npy": _npy(v) for k, v in truth.items()}), truth,
                      private_mask=np.array([False, True]), progress=progress)


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
