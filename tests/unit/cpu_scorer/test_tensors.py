"""Decoding one submitted sample: accepted formats and dtypes, and every refusal with its message."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch

from cpu_scorer.tensors import decode_sample
from podium_runtime.scoring.archive import ArchiveRejected

SHAPE = (3, 4, 4)


def pt_bytes(obj: object, **save_options: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, **save_options)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def truth() -> np.ndarray:
    return np.linspace(0.0, 1.0, num=int(np.prod(SHAPE)), dtype=np.float32).reshape(SHAPE)


def refusal(name: str, payload: bytes, shape: tuple[int, ...] = SHAPE) -> str:
    with pytest.raises(ArchiveRejected) as refused:
        decode_sample(name, payload, shape)
    return str(refused.value)


# --- accepted ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_a_pt_float_tensor_becomes_float32(dtype: torch.dtype) -> None:
    tensor = torch.from_numpy(truth()).to(dtype)
    array = decode_sample("sample_0000.pt", pt_bytes(tensor), SHAPE)
    assert array.dtype == np.float32
    np.testing.assert_array_equal(array, tensor.float().numpy())


def test_a_pt_parameter_with_grad_is_accepted() -> None:
    parameter = torch.nn.Parameter(torch.from_numpy(truth()))
    np.testing.assert_array_equal(decode_sample("sample_0000.pt", pt_bytes(parameter), SHAPE), truth())


def test_a_pt_from_a_memoryview_is_accepted() -> None:
    payload = memoryview(pt_bytes(torch.from_numpy(truth())))
    np.testing.assert_array_equal(decode_sample("sample_0000.pt", payload, SHAPE), truth())


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<f2", "<f8"])
def test_an_npy_float_array_becomes_float32(dtype: str) -> None:
    array = decode_sample("sample_0000.npy", npy_bytes(truth().astype(dtype)), SHAPE)
    assert array.dtype == np.float32
    np.testing.assert_allclose(array, truth(), rtol=1e-3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_safetensors_file_with_one_tensor_is_accepted(dtype: torch.dtype) -> None:
    payload = safetensors.torch.save({"prediction": torch.from_numpy(truth()).to(dtype)})
    array = decode_sample("sample_0000.safetensors", payload, SHAPE)
    assert array.dtype == np.float32
    np.testing.assert_allclose(array, truth(), rtol=1e-2)


# --- code execution through pickle ------------------------------------------------------------------------------


class _CreatesMarker:
    """Unpickling this object calls open(path, "w"), i.e. creates a file: proof that code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.path), "w")


def test_a_pt_whose_pickle_would_run_code_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    payload = pt_bytes(_CreatesMarker(marker))

    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    message = refusal("sample_0000.pt", payload)

    assert message.startswith("sample_0000.pt: holds more than tensors (Unsupported global: GLOBAL ")
    assert "open was not an allowed global by default" in message
    assert not marker.exists()


def test_the_code_execution_payload_is_live(tmp_path: Path) -> None:
    # The control for the test above: an unrestricted load of the same kind of file does create the marker, so
    # its absence there is torch.load(weights_only=True) refusing, not a dud payload. Test-made data only.
    marker = tmp_path / "control-marker"
    torch.load(io.BytesIO(pt_bytes(_CreatesMarker(marker))), weights_only=False)
    assert marker.exists()


def test_a_legacy_raw_pickle_pt_is_refused_before_torch_sees_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    message = refusal("sample_0000.pt", pickle.dumps(_CreatesMarker(marker)))
    assert message.startswith("sample_0000.pt: not in torch.save's ZIP format")
    assert not marker.exists()


def test_a_pt_in_torch_legacy_format_is_refused() -> None:
    payload = pt_bytes(torch.from_numpy(truth()), _use_new_zipfile_serialization=False)
    assert refusal("sample_0000.pt", payload).startswith("sample_0000.pt: not in torch.save's ZIP format")


def test_a_pt_with_compressed_records_is_refused() -> None:
    # torch allocates a record at its stated size before inflating it: a deflated record could be a bomb.
    original = zipfile.ZipFile(io.BytesIO(pt_bytes(torch.from_numpy(truth()))))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as repacked:
        for info in original.infolist():
            repacked.writestr(info.filename, original.read(info))
    message = refusal("sample_0000.pt", buffer.getvalue())
    assert message.startswith("sample_0000.pt: its records are compressed, torch.save never does that")


# --- not a single float tensor ----------------------------------------------------------------------------------


def test_a_pt_holding_a_dict_is_refused() -> None:
    payload = pt_bytes({"prediction": torch.from_numpy(truth())})
    assert refusal("sample_0000.pt", payload) == (
        "sample_0000.pt: holds a dict, expected one tensor; save one tensor with torch.save(tensor, path)"
    )


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.complex64])
def test_a_pt_of_a_non_float_dtype_is_refused(dtype: torch.dtype) -> None:
    payload = pt_bytes(torch.zeros(SHAPE, dtype=dtype))
    expected = (
        f"sample_0000.pt: dtype {str(dtype).removeprefix('torch.')}, expected float32, float16, bfloat16 or float64"
    )
    assert refusal("sample_0000.pt", payload) == expected


def test_a_sparse_pt_tensor_is_refused() -> None:
    payload = pt_bytes(torch.from_numpy(truth()).to_sparse())
    assert "holds a torch.sparse_coo tensor, expected a dense tensor" in refusal("sample_0000.pt", payload)


def test_a_pt_of_the_wrong_shape_is_refused() -> None:
    payload = pt_bytes(torch.zeros((3, 255, 256)))
    assert refusal("sample_0042.pt", payload, (3, 256, 256)) == (
        "sample_0042.pt: shape (3, 255, 256), expected (3, 256, 256)"
    )


def test_a_batched_pt_tensor_is_refused_by_shape() -> None:
    payload = pt_bytes(torch.zeros((1, *SHAPE)))
    assert refusal("sample_0000.pt", payload) == "sample_0000.pt: shape (1, 3, 4, 4), expected (3, 4, 4)"


@pytest.mark.parametrize(("bad", "count"), [(float("nan"), 1), (float("inf"), 1), (float("-inf"), 1)])
@pytest.mark.parametrize("suffix", [".pt", ".npy", ".safetensors"])
def test_non_finite_values_are_refused(bad: float, count: int, suffix: str) -> None:
    array = truth()
    array[1, 2, 3] = bad
    payload = {
        ".pt": lambda: pt_bytes(torch.from_numpy(array)),
        ".npy": lambda: npy_bytes(array),
        ".safetensors": lambda: safetensors.numpy.save({"x": array}),
    }[suffix]()
    message = refusal(f"sample_0007{suffix}", payload)
    assert message.startswith(f"sample_0007{suffix}: 1 value is NaN or infinite")


def test_float64_values_beyond_float32_range_are_refused_as_infinite() -> None:
    array = truth().astype(np.float64)
    array[0, 0, :2] = 1e300
    assert refusal("sample_0000.npy", npy_bytes(array)).startswith("sample_0000.npy: 2 values are NaN or infinite")


@pytest.mark.parametrize("suffix", [".pt", ".npy", ".safetensors"])
def test_an_empty_file_is_refused(suffix: str) -> None:
    assert refusal(f"sample_0000{suffix}", b"") == f"sample_0000{suffix}: the file is empty"


def test_garbage_in_a_pt_is_refused() -> None:
    assert refusal("sample_0000.pt", b"PK\x03\x04 not really a zip").startswith(
        "sample_0000.pt: not a readable torch.save file (the upload is not a ZIP archive"
    )


def test_an_unknown_suffix_is_refused() -> None:
    assert (
        refusal("sample_0000.png", b"\x89PNG")
        == "sample_0000.png: unknown file type; send .pt, .npy, .safetensors files"
    )


# --- .npy specifics ---------------------------------------------------------------------------------------------


def test_an_npy_of_an_int_dtype_is_refused() -> None:
    message = refusal("sample_0000.npy", npy_bytes(np.zeros(SHAPE, dtype=np.int32)))
    assert message == "sample_0000.npy: dtype int32, expected a float array (float32, float16, bfloat16 or float64)"


def test_an_npy_with_pickled_objects_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    array = np.empty(1, dtype=object)
    array[0] = _CreatesMarker(marker)
    message = refusal("sample_0000.npy", npy_bytes(array, allow_pickle=True))
    assert message.startswith("sample_0000.npy: dtype object, expected a float array")
    assert not marker.exists()


def test_an_npy_header_claiming_a_huge_shape_is_refused_before_allocating() -> None:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    buffer.write(b"\x00" * 16)
    assert refusal("sample_0000.npy", buffer.getvalue()) == (
        "sample_0000.npy: shape (1000000, 1000000), expected (3, 4, 4)"
    )


def test_a_truncated_npy_is_refused() -> None:
    payload = npy_bytes(truth())[:-8]
    assert refusal("sample_0000.npy", payload).startswith("sample_0000.npy: the .npy data is incomplete")


def test_an_npz_archive_is_not_an_npy() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, x=truth())
    assert refusal("sample_0000.npy", buffer.getvalue()).startswith("sample_0000.npy: not a .npy file numpy can read")


# --- .safetensors specifics -------------------------------------------------------------------------------------


def test_a_safetensors_file_with_two_tensors_is_refused() -> None:
    payload = safetensors.numpy.save({"a": truth(), "b": truth()})
    assert (
        refusal("sample_0000.safetensors", payload) == "sample_0000.safetensors: holds 2 tensors, expected exactly one"
    )


def test_a_safetensors_file_of_an_int_dtype_is_refused() -> None:
    payload = safetensors.numpy.save({"a": np.zeros(SHAPE, dtype=np.int16)})
    assert refusal("sample_0000.safetensors", payload).startswith("sample_0000.safetensors: dtype int16, expected")


def test_garbage_in_a_safetensors_file_is_refused() -> None:
    message = refusal("sample_0000.safetensors", b"\xff" * 8 + b"{}")
    assert message.startswith("sample_0000.safetensors: not a .safetensors file that can be read")
