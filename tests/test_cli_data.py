"""``nnscratch data info`` and ``nnscratch data fetch``."""

from __future__ import annotations

import argparse
import gzip
from dataclasses import replace
from pathlib import Path

import pytest

from datahelpers import Reply, Server, make_tiny
from nnscratch.cli import build_parser, main
from nnscratch.data import ENV_VAR, REGISTRY
from nnscratch.data.registry import MNIST


@pytest.fixture(autouse=True)
def only_tiny_datasets(tmp_path, monkeypatch) -> Server:
    """Registry = two tiny datasets whose mirrors are a local server (so a download would be seen)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(ENV_VAR, raising=False)
    with Server() as srv:
        for name in list(REGISTRY):
            monkeypatch.delitem(REGISTRY, name)
        for name, seed in (("tiny", 0), ("other", 5)):
            t = make_tiny(name=name, seed=seed, mirrors=(f"{srv.url}/{name}/",))
            monkeypatch.setitem(REGISTRY, name, replace(t.spec, pypi=None))
            for fname in t.raw:
                srv.add(f"/{name}/{fname}.gz", Reply(t.gz(fname)))
        yield srv


def test_info_reports_sources_and_never_downloads(tmp_path, monkeypatch, capsys, only_tiny_datasets) -> None:
    tiny = make_tiny()
    src = tiny.write(tmp_path / "src")
    monkeypatch.setenv(ENV_VAR, str(src))
    assert main(["data", "info"]) == 0
    out = capsys.readouterr().out
    tiny_part, other_part = out.split("\nother\n")
    assert tiny_part.startswith("tiny\n")
    assert f"  source:   {src}\n" in tiny_part
    assert "  verified: yes (md5 and sha256 of the decompressed files match)" in tiny_part
    assert "  sizes:    train 12 images, test 6 images (28x28 uint8)" in tiny_part
    assert "train-images-idx3-ubyte.gz (" in tiny_part
    assert "  classes:  train 0:2 1:2 2:1 3:1 4:1 5:1 6:1 7:1 8:1 9:1" in tiny_part
    assert "            test  0:1 1:1 2:1 3:1 4:1 5:1 6:0 7:0 8:0 9:0" in tiny_part
    assert "  verified: NO: these are the tiny files (use --dataset tiny)" in other_part  # same names
    assert only_tiny_datasets.requests == []  # nothing was downloaded


def test_info_says_not_available_and_never_downloads(capsys, only_tiny_datasets) -> None:
    assert main(["data", "info", "--dataset", "other"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "other\n  not available here (info never downloads; get it with: "
        "nnscratch data fetch --dataset other)\n"
    )
    assert "$NNSCRATCH_DATA: not set" in out and "download: not attempted" in out
    assert only_tiny_datasets.requests == []


def test_info_names_the_dataset_unverified_files_really_are(tmp_path, capsys) -> None:
    other = make_tiny(name="other", seed=5).write(tmp_path / "other")
    assert main(["data", "info", "--dataset", "tiny", "--data-dir", str(other)]) == 0
    assert "  verified: NO: these are the other files (use --dataset other)\n" in capsys.readouterr().out


def test_info_marks_unverified_files(tmp_path, capsys) -> None:
    wrong = make_tiny(seed=2).write(tmp_path / "wrong")
    assert main(["data", "info", "--dataset", "tiny", "--data-dir", str(wrong)]) == 0
    out = capsys.readouterr().out
    assert "other" not in out
    assert "  verified: NO (the checksums differ from the published ones)" in out


def test_fetch_downloads_verifies_and_prints_where(tmp_path, capsys, only_tiny_datasets) -> None:
    dest = tmp_path / "dest"
    assert main(["data", "fetch", "--dataset", "tiny", "--dir", str(dest), "--no-progress"]) == 0
    host = only_tiny_datasets.url.split("/")[2]
    assert f"tiny: verified files in {dest} (downloaded from {host})" in capsys.readouterr().out
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{n}.gz" for n in make_tiny().raw)
    assert main(["data", "fetch", "--dataset", "tiny", "--dir", str(dest)]) == 0
    assert f"tiny: verified files in {dest} (already present and verified)" in capsys.readouterr().out


def test_fetch_to_the_user_cache_by_default(tmp_path, capsys) -> None:
    assert main(["data", "fetch", "--dataset", "other", "--no-progress"]) == 0
    cache = Path(tmp_path / "xdg" / "nnscratch" / "other")
    assert f"other: verified files in {cache} (downloaded from " in capsys.readouterr().out


def test_fetch_failure_is_one_error_and_exit_code_1(tmp_path, capsys, only_tiny_datasets) -> None:
    only_tiny_datasets.routes.clear()  # every file now 404s
    assert main(["data", "fetch", "--dataset", "tiny", "--dir", str(tmp_path / "d"), "--retries", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("nnscratch: error: cannot load dataset 'tiny': no source holds verified copies")
    assert "HTTP 404 Not Found" in err and "set NNSCRATCH_DATA=DIR" in err
    assert main(["data", "fetch", "--dataset", "nope"]) == 1
    assert "unknown dataset 'nope'; known datasets: other, tiny" in capsys.readouterr().err


def test_info_never_writes_the_decoded_cache(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(ENV_VAR, str(make_tiny().write(tmp_path / "src")))
    assert main(["data", "info", "--dataset", "tiny"]) == 0
    assert "  verified: yes" in capsys.readouterr().out
    cache = tmp_path / "xdg"
    assert not cache.exists() or [p.name for p in cache.rglob("*") if p.is_file()] == []


def test_info_with_a_named_directory_reports_it_and_never_falls_back(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(ENV_VAR, str(make_tiny().write(tmp_path / "env")))  # a good copy it must not use
    assert main(["data", "info", "--dataset", "tiny", "--data-dir", str(tmp_path / "nowhere")]) == 0
    out = capsys.readouterr().out
    assert (
        f"  cannot load dataset 'tiny' from {tmp_path / 'nowhere'} (--data-dir / data_dir): the directory "
        "does not exist; a named directory is the only source tried\n" in out
    )
    assert "source:" not in out


def test_fetch_copies_from_the_source_info_names(tmp_path, monkeypatch, capsys) -> None:
    tiny = make_tiny()
    system = tmp_path / "system"
    system.mkdir()
    for name, raw in tiny.raw.items():  # gzip bytes unlike nnscratch's own (level 1, a time stamp)
        (system / f"{name}.gz").write_bytes(gzip.compress(raw, compresslevel=1, mtime=99))
    monkeypatch.setitem(REGISTRY, "tiny", replace(REGISTRY["tiny"], system_dirs=(system,)))
    assert main(["data", "info", "--dataset", "tiny"]) == 0
    assert f"  source:   {system}\n" in capsys.readouterr().out
    assert main(["data", "fetch", "--dataset", "tiny", "--dir", str(tmp_path / "dest")]) == 0
    out = capsys.readouterr().out
    assert out == (
        f"tiny: verified files in {tmp_path / 'dest'} (copied from system copy {system}: "
        ".gz files copied byte for byte)\n"
    )
    for name in tiny.raw:
        assert (tmp_path / "dest" / f"{name}.gz").read_bytes() == (system / f"{name}.gz").read_bytes()


def test_offline_fetch_error_is_one_line_per_source_and_names_fetch_s_dir(
    tmp_path, capsys, only_tiny_datasets
) -> None:
    only_tiny_datasets.routes.clear()  # every file now 404s
    dead = "http://127.0.0.1:1/"
    REGISTRY["tiny"] = replace(REGISTRY["tiny"], mirrors=(*REGISTRY["tiny"].mirrors, dead))
    dest = tmp_path / "d"
    assert main(["data", "fetch", "--dataset", "tiny", "--dir", str(dest), "--retries", "1"]) == 1
    lines = capsys.readouterr().err.splitlines()
    host = only_tiny_datasets.url
    assert lines[1:-2] == [
        f"  - {dest} (the target): the directory does not exist",
        "  - $NNSCRATCH_DATA: not set",
        f"  - user cache {tmp_path / 'xdg' / 'nnscratch' / 'tiny'}: the directory does not exist",
        f"  - {host}/tiny/: HTTP 404 Not Found (every file)",
        f"  - {dead}: connection refused (train-images-idx3-ubyte.gz); 3 files not tried (the host was "
        "unreachable)",
    ]
    assert "nnscratch data fetch --dir DIR" in lines[-1]
    assert max(map(len, lines)) < 300


def test_train_with_a_missing_data_dir_fails_instead_of_using_another_copy(
    tmp_path, monkeypatch, capsys, mnist_path
) -> None:
    monkeypatch.delitem(REGISTRY, "tiny")
    monkeypatch.setitem(REGISTRY, "mnist", MNIST)
    monkeypatch.setenv(ENV_VAR, str(mnist_path))  # a verified copy that must not be used instead
    missing = tmp_path / "nonexistent"
    assert main(["train", "--data-dir", str(missing), "--epochs", "1", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"nnscratch: error: cannot load dataset 'mnist' from {missing} (--data-dir / data_dir): the "
        "directory does not exist; a named directory is the only source tried\n"
    )


def _data_dir_options(parser: argparse.ArgumentParser, path: str = "nnscratch") -> dict[str, argparse.Action]:
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if "--data-dir" in action.option_strings:
            found[path] = action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_data_dir_options(sub, f"{path} {name}"))
    return found


def test_data_dir_is_one_option_shared_by_every_verb() -> None:
    options = _data_dir_options(build_parser())
    assert set(options) >= {
        "nnscratch train",
        "nnscratch evaluate",
        "nnscratch report",
        "nnscratch sweep",
        "nnscratch data info",
    }
    assert len({(a.help, a.type, a.default, a.metavar) for a in options.values()}) == 1  # one definition
    assert (options["nnscratch data info"].type, options["nnscratch data info"].metavar) == (Path, "DIR")


def test_data_without_an_action_prints_help(capsys) -> None:
    assert main(["data"]) == 2
    out = capsys.readouterr().out
    assert "info" in out and "fetch" in out
