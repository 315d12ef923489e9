"""Find a dataset file on disk, or download it, and verify its size and MD5.

A download goes to a temp file in the target folder and is renamed into place only after its size
and MD5 match the registry, so a crash, a timeout or a wrong file never leaves a half-written file
under the real name. When nothing works, the one error says which file is missing, where aekit
looked, which URLs it tried and why each failed, and what to do.

Environment:
    ``AEKIT_OFFLINE=1`` skips every download attempt.
    ``AEKIT_DOWNLOAD_TIMEOUT`` is the socket timeout in seconds (default 30).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from aekit.data.registry import FileSpec
from aekit.errors import AekitError

DEFAULT_TIMEOUT = 30.0
_CHUNK = 1 << 20


def hash_file(path: str | os.PathLike, algorithm: str = "md5") -> str:
    """Hex digest of a file, read in 1 MiB chunks.

    Args:
        path: The file.
        algorithm: Any :mod:`hashlib` name (``"md5"``, ``"sha256"``).
    """
    h = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_file(path: Path, spec: FileSpec) -> dict:
    """Check a file's size and MD5 against the registry.

    Args:
        path: The file on disk.
        spec: Its registry entry.

    Returns:
        A JSON-able record for the run's data info.

    Raises:
        AekitError: The size or MD5 differs (expected vs got, and how to fix it).
    """
    size = path.stat().st_size
    md5 = hash_file(path, "md5") if spec.md5 else None
    if (spec.size is not None and size != spec.size) or (spec.md5 and md5 != spec.md5):
        raise AekitError(
            f"checksum mismatch for {path}: expected md5 {spec.md5} ({spec.size} bytes), got md5 "
            f"{md5} ({size} bytes); the file is corrupt, incomplete or a different version: "
            "delete it to download it again, or replace it with the official file"
        )
    return {"name": spec.name, "path": str(path), "size": size, "md5": md5,
            "verified": bool(spec.md5 or spec.size)}


def offline() -> bool:
    """Whether ``AEKIT_OFFLINE`` asks aekit not to touch the network."""
    return os.environ.get("AEKIT_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def download_timeout() -> float:
    """The socket timeout for downloads, from ``AEKIT_DOWNLOAD_TIMEOUT`` (default 30 s)."""
    raw = os.environ.get("AEKIT_DOWNLOAD_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise AekitError(
            f"expected AEKIT_DOWNLOAD_TIMEOUT to be a positive number of seconds, got {raw!r}"
        )
    return value


def ensure_file(
    dataset: str,
    alternatives: Sequence[FileSpec],
    folders: Sequence[Path],
    mirrors: Sequence[str],
    *,
    download: bool = True,
    progress: bool = True,
    timeout: float | None = None,
    no_download: str = "",
) -> tuple[Path, FileSpec]:
    """Return a verified local copy of one of ``alternatives``, downloading the first if needed.

    Args:
        dataset: Dataset name, for messages.
        alternatives: Accepted files (e.g. KMNIST's IDX or ``.npz``); the first is downloaded.
        folders: Where to look, in order; downloads go to ``folders[0]``.
        mirrors: Base URLs to try in order.
        download: Try the network when the file is missing (unless ``AEKIT_OFFLINE`` is set).
        progress: Show a progress bar while downloading.
        timeout: Socket timeout in seconds; ``None`` reads ``AEKIT_DOWNLOAD_TIMEOUT``.
        no_download: Why this dataset has no download source (used when ``mirrors`` is empty).

    Raises:
        AekitError: Checksum mismatch, or the file is missing and could not be downloaded.
    """
    for folder in folders:
        for spec in alternatives:
            path = folder / spec.name
            if path.is_file():
                verify_file(path, spec)
                return path, spec
    spec, target = alternatives[0], folders[0]
    urls = [base + spec.name for base in mirrors]
    if not urls:
        failures = [no_download or "this dataset has no download source"]
    elif offline():
        failures = ["not tried: AEKIT_OFFLINE is set, so aekit stays offline"]
    elif not download:
        failures = ["not tried: downloading is turned off (download=False / --no-download)"]
    else:
        failures = _try_download(spec, target, urls, timeout, progress)
        if not failures:
            return target / spec.name, spec
    wanted = " or ".join(s.name for s in alternatives)
    looked = ", ".join(str(f) for f in folders)
    tried = "\n".join(f"  - {line}" for line in failures)
    raise AekitError(
        f"{dataset}: expected {wanted} in {target}, got no such file (looked in: {looked}).\n"
        f"Could not download it:\n{tried}\n"
        f"What to do: put the official file in {target}, or point --data-dir / AEKIT_DATA at a "
        f"folder that holds {dataset}/{spec.name}"
        + (f" (official URL: {urls[0]})." if urls else ".")
    )


def _try_download(
    spec: FileSpec, folder: Path, urls: Sequence[str], timeout: float | None, progress: bool
) -> list[str]:
    """Download ``spec`` from the first URL that works; return one reason per failed URL."""
    timeout = download_timeout() if timeout is None else timeout
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return [f"cannot create the folder {folder}: {e}"]
    failures = []
    for url in urls:
        try:
            _download_one(url, folder / spec.name, spec, timeout, progress)
            return []
        except _WriteError as e:
            return failures + [str(e)]  # no mirror can fix an unwritable folder
        except (_BadDownload, OSError, http.client.HTTPException, ValueError) as e:
            failures.append(f"{url}: {_describe(e, timeout)}")
    return failures


class _WriteError(Exception):
    """The target folder is not writable."""


class _BadDownload(Exception):
    """The server sent fewer bytes than announced, or bytes with the wrong checksum."""


def _download_one(url: str, dest: Path, spec: FileSpec, timeout: float, progress: bool) -> None:
    from tqdm.auto import tqdm  # imported here: only downloads need it

    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as e:
        raise _WriteError(f"cannot write to {dest.parent}: {e}") from e
    tmp = Path(tmp_name)
    try:
        md5, size = hashlib.md5(usedforsecurity=False), 0
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as resp:
            announced = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=spec.size or announced, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=dest.name, disable=not progress, leave=False) as bar:
                while chunk := resp.read(_CHUNK):
                    f.write(chunk)
                    md5.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
        if announced is not None and size < announced:
            # read(amt) returns b"" on an early close instead of raising IncompleteRead.
            raise _BadDownload(
                f"connection closed early: got {size} of {announced} bytes; the partial "
                "download was deleted"
            )
        digest = md5.hexdigest()
        if (spec.size is not None and size != spec.size) or (spec.md5 and digest != spec.md5):
            raise _BadDownload(
                f"checksum mismatch: expected md5 {spec.md5} ({spec.size} bytes), got md5 "
                f"{digest} ({size} bytes); the download was deleted"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)  # a no-op after a successful os.replace


def _describe(e: BaseException, timeout: float) -> str:
    """A one-line reason for a failed download."""
    if isinstance(e, _BadDownload):
        return str(e)
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    if isinstance(e, urllib.error.URLError):
        if not isinstance(e.reason, BaseException):
            return str(e.reason)
        e = e.reason  # describe the socket error underneath (refused, timeout, DNS)
    if isinstance(e, socket.gaierror):
        return f"cannot resolve the host ({e.strerror}): this machine looks offline"
    if isinstance(e, ConnectionRefusedError):
        return "connection refused: the server is unreachable (offline, or a wrong URL)"
    if isinstance(e, TimeoutError):
        return f"timed out after {timeout:g} s (AEKIT_DOWNLOAD_TIMEOUT); the server stalled"
    if isinstance(e, http.client.IncompleteRead):
        return f"connection closed early after {len(e.partial)} bytes; the download was deleted"
    return f"{type(e).__name__}: {e}"
