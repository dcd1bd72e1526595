"""Hostile inputs for `test_hostile_input.py`: crafted ZIP archives (each with the words its refusal must contain),
forged access tokens, and raw HTTP/1.1 exchanges over a plain socket for what no HTTP client will send."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import stat
import struct
import time
import warnings
import zipfile
from collections.abc import Sequence
from urllib.parse import urlsplit

import jwt
import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# --- archives -------------------------------------------------------------------------------------------------------


def zip_bytes(members: Sequence[tuple[str | zipfile.ZipInfo, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", method) as archive:
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names we write on purpose
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


def npy(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _central_entries(archive: bytes) -> list[int]:
    """Offsets of the central directory's entries (read from the end record; no comment)."""
    count, _, start = struct.unpack_from("<HII", archive, len(archive) - 22 + 10)
    offsets, position = [], start
    for _ in range(count):
        offsets.append(position)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", archive, position + 28)
        position += 46 + name_len + extra_len + comment_len
    return offsets


def _with_flag(archive: bytes, flag: int) -> bytes:
    """The first member marked with `flag` (general-purpose bits) in its local header and its directory entry."""
    crafted = bytearray(archive)
    central = _central_entries(archive)[0]
    local = struct.unpack_from("<I", archive, central + 42)[0]
    for offset in (local + 6, central + 8):
        crafted[offset : offset + 2] = struct.pack("<H", struct.unpack_from("<H", archive, offset)[0] | flag)
    return bytes(crafted)


def _all_pointing_at_the_first(archive: bytes) -> bytes:
    """Every directory entry pointing at the first member's bytes: the overlapping-file ZIP bomb's layout."""
    crafted = bytearray(archive)
    entries = _central_entries(archive)
    first = struct.unpack_from("<I", archive, entries[0] + 42)[0]
    for entry in entries[1:]:
        crafted[entry + 42 : entry + 46] = struct.pack("<I", first)
    return bytes(crafted)


def _understating(archive: bytes, size: int) -> bytes:
    """The first member's uncompressed size set to `size` in its local header and its directory entry alike."""
    crafted = bytearray(archive)
    central = _central_entries(archive)[0]
    local = struct.unpack_from("<I", archive, central + 42)[0]
    for offset in (local + 22, central + 24):
        crafted[offset : offset + 4] = struct.pack("<I", size)
    return bytes(crafted)


def crafted_archives(truth: dict[str, np.ndarray]) -> dict[str, tuple[bytes, str]]:
    """Case name → (archive, words its `failed` reason must contain), beyond the submission tests' own corpus."""
    good = [(f"{name}.npy", npy(array)) for name, array in truth.items()]
    first, shape = next(iter(truth)), next(iter(truth.values())).shape
    rest = good[1:]
    symlink = zipfile.ZipInfo(f"{first}.npy")
    symlink.external_attr = (stat.S_IFLNK | 0o777) << 16
    legacy = io.BytesIO()
    torch.save(torch.zeros(shape), legacy, _use_new_zipfile_serialization=False)
    lying_header = io.BytesIO()  # says 100000×100000 (40 GB), holds 3 KB
    np.lib.format.write_array_header_1_0(lying_header, {"descr": "<f4", "fortran_order": False,
                                                        "shape": (100_000, 100_000)})
    lying_header.write(np.zeros(shape, np.float32).tobytes())
    nul_name = zip_bytes([(f"{first}Xevil.npy", npy(truth[first])), *rest]).replace(
        f"{first}Xevil".encode(), f"{first}\0evil".encode())
    # Flagged as UTF-8 (bit 11), named with a byte that is no UTF-8.
    not_utf8 = _with_flag(zip_bytes([("sample_Q.npy", b"x"), *good]).replace(b"sample_Q", b"sample_\xff"), 0x0800)
    stored = zip_bytes(good)
    zip64 = bytearray(stored)  # the end record's entry counts set to 0xFFFF: "look in the ZIP64 record"
    zip64[-22 + 8 : -22 + 12] = b"\xff" * 4
    # 64 MiB of zeros deflate to 64 KB: a member far beyond what one sample can take, stated honestly, then understated.
    bomb = zip_bytes([(f"{first}.npy", bytes(64 << 20)), *rest], zipfile.ZIP_DEFLATED)
    one_sample = len(npy(truth[first]))
    return {
        "10,000 entries": (zip_bytes([(f"e{i:05d}", b"") for i in range(10_000)]),
                           "the ZIP has 10000 entries; the limit is 1000"),
        "entry name with NUL": (nul_name, "entry names may not contain NUL bytes"),
        "entry name of 5 KB": (zip_bytes([*good, ("x" * 5000 + ".npy", b"x")]), "unexpected file in the ZIP"),
        "entry name not UTF-8": (not_utf8, "the entry name is not valid UTF-8"),
        "backslash traversal": (zip_bytes([*good, ("..\\..\\evil.npy", b"x")]), "paths with '..' are not accepted"),
        "drive-letter path": (zip_bytes([*good, ("C:evil.npy", b"x")]), "absolute paths are not accepted"),
        "sample inside a folder": (zip_bytes([(f"preds/{first}.npy", npy(truth[first])), *rest]),
                                   "folders are not accepted"),
        "duplicate entry": (zip_bytes([*good, good[0]]), f"{first}.npy appears twice in the ZIP"),
        "one sample twice": (zip_bytes([*good, (f"{first}.pt", b"x")]), f"{first} is given twice"),
        "encrypted entry": (_with_flag(stored, 0x0001), "is encrypted (password-protected)"),
        "bzip2 compression": (zip_bytes(good, zipfile.ZIP_BZIP2), "compression bzip2 is not accepted"),
        "overlapping entries": (_all_pointing_at_the_first(stored), "overlaps"),
        "ZIP bomb (64 MiB of zeros in one member)": (bomb, f"{first}.npy: 64.0 MiB uncompressed; the limit is"),
        "ZIP bomb whose headers understate its size": (
            _understating(bomb, one_sample),
            f"{first}.npy: inflates to more than {one_sample} bytes but the ZIP declares {one_sample}"),
        "ZIP64 end record": (bytes(zip64), "ZIP64 archives are not accepted"),
        "truncated ZIP": (stored[:-100], "not a ZIP archive"),
        "bytes after the ZIP": (stored + b"trailing", "not a ZIP archive"),
        "empty ZIP": (zip_bytes([]), "12 samples are missing from the ZIP"),
        "symlink entry": (zip_bytes([(symlink, b"/etc/passwd"), *rest]), f"{first}.npy: not a .npy file"),
        "nested ZIP": (zip_bytes([(f"{first}.npy", stored), *rest]), f"{first}.npy: not a .npy file"),
        "legacy torch pickle": (zip_bytes([(f"{first}.pt", legacy.getvalue()), *rest]),
                                "not in torch.save's ZIP format"),
        "object array (pickle) in .npy": (
            zip_bytes([(f"{first}.npy", npy(np.array([{}], dtype=object), allow_pickle=True)), *rest]),
            f"{first}.npy"),
        ".npy header lying about its shape": (zip_bytes([(f"{first}.npy", lying_header.getvalue()), *rest]),
                                              f"{first}.npy"),
        "safetensors garbage": (zip_bytes([(f"{first}.safetensors", b"\xff" * 64), *rest]),
                                "not a .safetensors file"),
    }


# --- tokens ---------------------------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Each way to forge a bearer token, with the words of the 401 it gets.
FORGED = {
    "alg none": "algorithm 'none' is not accepted",
    "HS256 with a guessed secret": "algorithm 'HS256' is not accepted",
    "EdDSA by another key, the real kid": "invalid token",
    "unknown kid": "token signed with an unknown key",
    "real token, role edited to admin": "invalid token",
    "not a JWT": "malformed token",
}


def forged_token(kind: str, kid: str, team_id: int, real: str) -> str:
    """A token of `kind` (a key of FORGED) claiming admin rights for `team_id`; `real` is the team's own token."""
    now = int(time.time())
    claims = {"sub": str(team_id), "role": "admin", "ver": 1, "iss": "podium", "aud": "podium-api",
              "iat": now, "exp": now + 600}
    other_key = Ed25519PrivateKey.generate()
    header, payload, signature = real.split(".")
    if kind == "alg none":
        return _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + _b64(json.dumps(claims).encode()) + "."
    if kind == "HS256 with a guessed secret":
        return jwt.encode(claims, "a-secret-someone-might-guess-0123", algorithm="HS256", headers={"kid": kid})
    if kind == "EdDSA by another key, the real kid":
        return jwt.encode(claims, other_key, algorithm="EdDSA", headers={"kid": kid})
    if kind == "unknown kid":
        return jwt.encode(claims, other_key, algorithm="EdDSA", headers={"kid": "../../etc/passwd"})
    if kind == "real token, role edited to admin":
        elevated = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return f"{header}.{_b64(json.dumps({**elevated, 'role': 'admin'}).encode())}.{signature}"
    assert kind == "not a JWT", kind
    return "../../etc/passwd"


# --- raw HTTP/1.1 ---------------------------------------------------------------------------------------------------


async def raw_exchange(url: str, payload: bytes, *, piece: int = 0, pause_s: float = 0.0,
                       read_timeout_s: float = 10.0) -> bytes:
    """Send `payload` on a fresh connection (in pieces of `piece` bytes with `pause_s` between them, if set) and
    return what the server answers before it closes or goes quiet. Sending stops early once the server answers
    (a refusal mid-request); a reset connection ends the exchange with what was read."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    answer = b""
    try:
        chunks = [payload[i : i + piece] for i in range(0, len(payload), piece)] if piece else [payload]
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            if pause_s:
                try:
                    answer += await asyncio.wait_for(reader.read(65536), pause_s)
                except TimeoutError:
                    continue
                break  # the server answered before the request was complete
        async with asyncio.timeout(read_timeout_s):
            while chunk := await reader.read(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and _complete(answer):
                    break
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
    return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False  # no length: the answer ends when the server closes


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer; 0 when the server closed without answering."""
    first = answer.split(b"\r\n", 1)[0].split(b" ")
    return int(first[1]) if len(first) > 1 and first[0].startswith(b"HTTP/") else 0


def multipart(filename: bytes, data: bytes, *, field: bytes = b"file") -> tuple[bytes, str]:
    """A one-file multipart body written byte for byte (HTTP clients escape what we want to send raw) and its
    content type."""
    boundary = b"podium-hostile-boundary"
    body = (b"--" + boundary + b'\r\nContent-Disposition: form-data; name="' + field + b'"; filename="' + filename
            + b'"\r\nContent-Type: application/zip\r\n\r\n' + data + b"\r\n--" + boundary + b"--\r\n")
    return body, f"multipart/form-data; boundary={boundary.decode()}"
