"""Find a dataset file on disk, or download it with pooch, and verify its size and MD5.

Downloads go through :func:`pooch.retrieve`, which streams to a temp file in the target folder and
renames it into place only after its MD5 matches the registry (``known_hash="md5:..."``); aekit's
downloader checks the size first. So a crash, a timeout or a wrong file never leaves a
half-written file under the real name. aekit adds the mirror fallback, offline mode and one error
when nothing works: which file is missing, where aekit looked, which URLs it tried and why each
failed, and what to do.

Environment:
    ``AEKIT_OFFLINE=1`` skips every download attempt.
    ``AEKIT_DOWNLOAD_TIMEOUT`` is the socket timeout in seconds (default 30).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
    import pooch  # imported here, like requests under it: only downloads need them (~0.25 s)
    import requests

    timeout = download_timeout() if timeout is None else timeout
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return [f"cannot create the folder {folder}: {e}"]
    known_hash = f"md5:{spec.md5}" if spec.md5 else None
    downloader = _downloader(spec, timeout, progress)
    failures = []
    with _pooch_log(verbose=progress):
        for url in urls:
            try:
                pooch.retrieve(url, known_hash, fname=spec.name, path=folder, downloader=downloader)
                return []
            except (_BadDownload, requests.RequestException) as e:  # before OSError: its subclass
                failures.append(f"{url}: {_describe(e, timeout)}")
            except ValueError as e:  # pooch's MD5 check; its message has both digests
                failures.append(f"{url}: checksum mismatch: {e}")
            except OSError as e:
                return failures + [f"cannot write to {folder}: {e}"]  # no mirror can fix that
    return failures


class _BadDownload(Exception):
    """The server sent a file of the wrong size."""


def _downloader(spec: FileSpec, timeout: float, progress: bool) -> Callable[[str, str, object], None]:
    """pooch's HTTP downloader, then a size check and an fsync before pooch hashes and renames."""
    import pooch

    fetch = pooch.HTTPDownloader(timeout=timeout, progressbar=progress, chunk_size=_CHUNK)

    def download(url: str, output_file: str, pup: object) -> None:
        fetch(url, output_file, pup)
        with open(output_file, "rb+") as f:
            os.fsync(f.fileno())  # the rename must not land before the bytes do
            size = os.fstat(f.fileno()).st_size
        if spec.size is not None and size != spec.size:
            raise _BadDownload(
                f"size mismatch: expected {spec.size} bytes, got {size}; the download was deleted"
            )

    return download


@contextmanager
def _pooch_log(verbose: bool) -> Iterator[None]:
    """Keep pooch's "Downloading data from ..." line when progress is shown, else drop it."""
    import pooch

    if verbose:
        yield
        return
    logger = pooch.get_logger()

    def warnings_only(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING

    # A filter, not setLevel: pooch's logger lives outside logging's manager, so setLevel
    # does not clear the level cache it already filled.
    logger.addFilter(warnings_only)
    try:
        yield
    finally:
        logger.removeFilter(warnings_only)


def _describe(e: BaseException, timeout: float) -> str:
    """A one-line reason for a failed download, from the most telling error in ``e``'s chain."""
    import requests

    if isinstance(e, _BadDownload):
        return str(e)
    if isinstance(e, requests.HTTPError) and e.response is not None:
        return f"HTTP {e.response.status_code} {e.response.reason}"
    # requests wraps urllib3 errors, which wrap the socket error: describe the innermost one.
    for cause in _chain(e):
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve the host ({cause.strerror}): this machine looks offline"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused: the server is unreachable (offline, or a wrong URL)"
        if isinstance(cause, TimeoutError):
            return f"timed out after {timeout:g} s (AEKIT_DOWNLOAD_TIMEOUT); the server stalled"
        if isinstance(cause, http.client.IncompleteRead):
            # urllib3's subclass counts bytes in ``partial``; http.client's holds the bytes.
            got = cause.partial if isinstance(cause.partial, int) else len(cause.partial)
            of = f" of {got + cause.expected}" if cause.expected is not None else ""
            return f"connection closed early: got {got}{of} bytes; the partial download was deleted"
    return f"{type(e).__name__}: {e}"


def _chain(e: BaseException) -> Iterator[BaseException]:
    """``e`` and the errors under it: causes, contexts, urllib3's ``reason`` and exception args."""
    todo, seen = [e], set()
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        under = (e.__cause__, e.__context__, getattr(e, "reason", None), *e.args)
        todo.extend(u for u in under if isinstance(u, BaseException))
