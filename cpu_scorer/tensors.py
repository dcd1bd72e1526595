"""Decoding of one submitted sample (`.pt`, `.npy` or `.safetensors`) into a float32 array, checked for dtype,
shape and finiteness, without ever unpickling participant data."""

from __future__ import annotations

import io
import json
import math
import pickle
import re
import struct
from collections.abc import Callable

import numpy as np
import safetensors
import torch
from safetensors.torch import load as load_safetensors  # a no-code format: no pickle involved

from podium_runtime.scoring.archive import STORED, ArchiveRejected, participant_data, read_directory, readable_size

Shape = tuple[int, ...]

_TORCH_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_NUMPY_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_FLOAT_NAMES = "float32, float16, bfloat16 or float64"
# A torch.save file holds a handful of records (data.pkl, one per storage, version, byteorder...).
_MAX_PT_RECORDS = 64
_SAVE_HINT = "save one tensor with torch.save(tensor, path)"
# safetensors' dtype codes: the float ones accepted, and the others named as torch names them (a code not listed
# is quoted as written, cut short).
_SAFETENSORS_FLOATS = frozenset({"F16", "BF16", "F32", "F64"})
_SAFETENSORS_NAMES = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16", "U32": "uint32",
                      "I32": "int32", "U64": "uint64", "I64": "int64", "C64": "complex64", "F8_E4M3": "float8_e4m3fn",
                      "F8_E5M2": "float8_e5m2"}
_QUOTED_DTYPE_CHARS = 20

_WIDEST_FLOAT_BYTES = 8  # float64, the widest dtype accepted: a member may hold its sample at that width
HEADER_ALLOWANCE_BYTES = 64 * 1024
"""What one member may hold beyond its tensor's values. torch.save adds ~1.3 KiB (data.pkl, version, byteorder,
alignment padding, each record's ZIP headers) plus ~15 bytes per character of the saved file's name, which its
records repeat (~4.3 KiB for a 200-character name); a .npy header is at most 10,000 bytes (numpy's own limit on
reading one); a .safetensors header of one tensor is ~100 bytes. 64 KiB covers each with room to spare, and stays
small beside a sample: it is what a member can take beyond an honest file, however well it compresses."""


def max_member_bytes(shape: Shape) -> int:
    """The most an accepted member holding one sample of `shape` can take uncompressed."""
    return math.prod(shape) * _WIDEST_FLOAT_BYTES + HEADER_ALLOWANCE_BYTES


def member_size_rule(shape: Shape) -> str:
    """Where `max_member_bytes(shape)` comes from, for a participant whose member exceeds it."""
    payload = readable_size(math.prod(shape) * _WIDEST_FLOAT_BYTES)
    return (f"one float tensor of shape {tuple(shape)} takes {payload} as float64, plus "
            f"{readable_size(HEADER_ALLOWANCE_BYTES)} for the file's header; a tensor sliced from a larger one is "
            "saved with that whole storage: save tensor.clone()")


def decode_sample(name: str, payload: bytes | memoryview, expected_shape: Shape) -> np.ndarray:
    """The member's tensor as a float32 array of `expected_shape` with only finite values.

    Refusals raise ArchiveRejected naming the member. The array may share memory with `payload` or be read-only.
    """
    if len(payload) == 0:
        raise ArchiveRejected(f"{name}: the file is empty")
    decoder = DECODERS.get(name[name.rfind(".") :])
    if decoder is None:
        raise ArchiveRejected(f"{name}: unknown file type; send {', '.join(DECODERS)} files")
    with participant_data(name):
        array = decoder(name, payload, tuple(expected_shape))
        _check_finite(name, array)
    return array


def _decode_pt(name: str, payload: bytes | memoryview, shape: Shape) -> np.ndarray:
    _check_torch_zip(name, payload)
    try:
        # weights_only=True is the whole point: torch's restricted unpickler builds tensors and plain containers,
        # and refuses any other global, so a crafted pickle cannot run code.
        loaded = torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as error:
        raise ArchiveRejected(f"{name}: holds more than tensors ({_unpickler_reason(error)}); {_SAVE_HINT}") from None
    except (RuntimeError, EOFError, ValueError, KeyError, TypeError) as error:
        raise ArchiveRejected(f"{name}: torch.load cannot read it ({_first_line(error)}); {_SAVE_HINT}") from None
    return _from_tensor(name, loaded, shape)


def _check_torch_zip(name: str, payload: bytes | memoryview) -> None:
    """Accept only torch.save's ZIP format with every record stored uncompressed, as torch.save writes it.

    torch does inflate deflated records, at the size their own directory states: a deflated record could hide a
    ZIP bomb inside a member that passed the archive's limits. The legacy raw-pickle format allocates storages at
    sizes the pickle states. Refusing both keeps every allocation within the bytes actually sent.
    """
    if bytes(payload[:4]) != b"PK\x03\x04":
        raise ArchiveRejected(f"{name}: not in torch.save's ZIP format (the default since PyTorch 1.6); {_SAVE_HINT}")
    try:
        records, _ = read_directory(payload, _MAX_PT_RECORDS)
    except ArchiveRejected as error:
        raise ArchiveRejected(f"{name}: not a readable torch.save file ({error}); {_SAVE_HINT}") from None
    for record in records:
        if record.method != STORED or record.compressed_size != record.size:
            raise ArchiveRejected(f"{name}: its records are compressed, torch.save never does that; {_SAVE_HINT}")


def _unpickler_reason(error: pickle.UnpicklingError) -> str:
    # torch's message is a page of advice for trusted checkpoints; the participant needs the one refused global.
    match = re.search(r"WeightsUnpickler error: ([^\n]*)", str(error))
    return match.group(1).split(". Please")[0].rstrip(".")[:200] if match else _first_line(error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _decode_npy(name: str, payload: bytes | memoryview, shape: Shape) -> np.ndarray:
    stream = io.BytesIO(payload)
    # The header is checked before numpy.load: numpy allocates the header's shape before reading the data.
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            header_shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            header_shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f".npy format version {version[0]}.{version[1]} is not accepted")
    except ValueError as error:
        raise ArchiveRejected(f"{name}: not a .npy file numpy can read ({_first_line(error)})") from None
    if dtype.newbyteorder("=") not in _NUMPY_FLOATS:
        raise ArchiveRejected(f"{name}: dtype {dtype}, expected a float array ({_FLOAT_NAMES})")
    _check_shape(name, tuple(header_shape), shape)
    stream.seek(0)
    try:
        array = np.load(stream, allow_pickle=False)
    except (ValueError, EOFError) as error:
        raise ArchiveRejected(f"{name}: the .npy data is incomplete ({_first_line(error)})") from None
    return _as_float32(array)


def _safetensors_dtypes(payload: bytes | memoryview) -> list[str] | None:
    """The dtype code of each tensor the file's header declares; None when the header cannot be read that far
    (the library then says what is wrong). Read before the library: it fails on codes it cannot map to torch
    (F4, F6_E2M3, F8_E8M0 ...) with a bare KeyError."""
    if len(payload) < 8:
        return None
    (length,) = struct.unpack_from("<Q", payload)
    if length > len(payload) - 8:
        return None
    try:
        header = json.loads(bytes(payload[8 : 8 + length]))
    except ValueError:
        return None
    if not isinstance(header, dict):
        return None
    entries = [entry for key, entry in header.items() if key != "__metadata__"]
    if not all(isinstance(entry, dict) and isinstance(entry.get("dtype"), str) for entry in entries):
        return None
    return [entry["dtype"] for entry in entries]


def _decode_safetensors(name: str, payload: bytes | memoryview, shape: Shape) -> np.ndarray:
    dtypes = _safetensors_dtypes(payload)
    if dtypes is not None and len(dtypes) != 1:
        raise ArchiveRejected(f"{name}: holds {len(dtypes)} tensors, expected exactly one")
    if dtypes is not None and dtypes[0] not in _SAFETENSORS_FLOATS:
        code = dtypes[0]
        shown = _SAFETENSORS_NAMES.get(code) or repr(code[:_QUOTED_DTYPE_CHARS])
        raise ArchiveRejected(f"{name}: dtype {shown}, expected {_FLOAT_NAMES}")
    try:
        tensors = load_safetensors(bytes(payload))
    except (safetensors.SafetensorError, ValueError, TypeError) as error:
        raise ArchiveRejected(f"{name}: not a .safetensors file that can be read ({_first_line(error)})") from None
    if len(tensors) != 1:
        raise ArchiveRejected(f"{name}: holds {len(tensors)} tensors, expected exactly one")
    return _from_tensor(name, next(iter(tensors.values())), shape)


def _from_tensor(name: str, loaded: object, shape: Shape) -> np.ndarray:
    if not isinstance(loaded, torch.Tensor):
        raise ArchiveRejected(f"{name}: holds a {type(loaded).__name__}, expected one tensor; {_SAVE_HINT}")
    if loaded.is_nested:
        raise ArchiveRejected(f"{name}: holds a nested tensor, expected one dense tensor; {_SAVE_HINT}")
    if loaded.layout != torch.strided:
        raise ArchiveRejected(f"{name}: holds a {loaded.layout} tensor, expected a dense tensor")
    if loaded.device.type != "cpu":  # map_location="cpu" moves every tensor that has data; a meta tensor has none
        raise ArchiveRejected(f"{name}: holds a tensor on device {loaded.device.type!r}, without its values; "
                              "save a tensor that holds them")
    if loaded.dtype not in _TORCH_FLOATS:
        raise ArchiveRejected(f"{name}: dtype {str(loaded.dtype).removeprefix('torch.')}, expected {_FLOAT_NAMES}")
    _check_shape(name, tuple(loaded.shape), shape)
    if loaded.dtype == torch.bfloat16:
        # numpy has no bfloat16; float32 holds every bfloat16 value exactly.
        loaded = loaded.float()
    # A negated view (torch._neg_view) keeps its sign as a flag numpy cannot read: its values are well defined, so
    # they are materialised (one copy of one sample) rather than refused.
    return _as_float32(loaded.detach().resolve_neg().numpy())


def _check_shape(name: str, actual: Shape, expected: Shape) -> None:
    if actual != expected:
        raise ArchiveRejected(f"{name}: shape {actual}, expected {expected}")


def _as_float32(array: np.ndarray) -> np.ndarray:
    # float16 and float32 convert exactly; float64 values beyond float32's range become ±inf and are refused next.
    if array.dtype == np.float32:
        return array
    with np.errstate(over="ignore"):
        return array.astype(np.float32)


def _check_finite(name: str, array: np.ndarray) -> None:
    finite = np.isfinite(array)
    if not finite.all():
        bad = array.size - int(np.count_nonzero(finite))
        raise ArchiveRejected(
            f"{name}: {bad} value{'s are' if bad > 1 else ' is'} NaN or infinite (float64 values beyond float32's "
            "range count as infinite); every value must be finite"
        )


DECODERS: dict[str, Callable[[str, bytes | memoryview, Shape], np.ndarray]] = {
    ".pt": _decode_pt,
    ".npy": _decode_npy,
    ".safetensors": _decode_safetensors,
}
"""Accepted member suffixes, each with its decoder."""
