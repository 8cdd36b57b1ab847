"""``nnscratch serve``: options, loopback by default, one-line errors, Ctrl-C stops it cleanly."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from nnscratch.cli import main
from nnscratch.cli import serve as serve_cli
from webhelpers import Server

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "127.0.0.1" in out and "8000" in out and "MODEL" in out and "--open" in out
    assert "the model shipped with nnscratch" in out


def test_missing_web_extra_is_one_line_naming_the_extra(monkeypatch, capsys):
    real = serve_cli.importlib.util.find_spec
    monkeypatch.setattr(
        serve_cli.importlib.util, "find_spec", lambda name: None if name == "uvicorn" else real(name)
    )
    assert main(["serve"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("nnscratch: error: ") and 'pip install "nnscratch[web]"' in err and "uvicorn" in err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("192.0.2.7", False)],
)
def test_loopback_detection(host, loopback):
    assert serve_cli.is_loopback(host) is loopback


def test_non_loopback_host_warns_and_ctrl_c_stops(monkeypatch, capsys):
    """With --host 0.0.0.0 the server warns; the socket is swapped for a loopback one (tests never
    listen publicly) and Ctrl-C is simulated at once."""
    import uvicorn

    bound: list[str] = []
    real_listen = serve_cli.listen

    def fake_listen(host, port):
        bound.append(host)
        return real_listen("127.0.0.1", 0)

    def interrupted(self, sockets=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(serve_cli, "listen", fake_listen)
    monkeypatch.setattr(uvicorn.Server, "run", interrupted)
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert bound == ["0.0.0.0"]
    assert "warning: listening on 0.0.0.0, which is not a loopback address" in err
    assert "stopped" in err and "Traceback" not in err


def test_loopback_host_does_not_warn(monkeypatch, capsys):
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: None)
    assert main(["serve", "--port", "0"]) == 0
    err = capsys.readouterr().err
    assert "warning" not in err and "http://127.0.0.1:" in err


def test_port_in_use_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "choose another --port" in err


@pytest.mark.parametrize("port", ["-1", "65536", "eighty"])
def test_bad_port_is_a_usage_error(port, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", port])
    assert exc.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_bad_model_files_are_one_line(tmp_path, capsys):
    from nnscratch import DeepNeuralNetwork

    assert main(["serve", str(tmp_path / "nope.npz")]) == 1
    assert "does not exist" in capsys.readouterr().err
    DeepNeuralNetwork(sizes=[10, 4, 3], seed=0).save(tmp_path / "small.npz")
    assert main(["serve", str(tmp_path / "small.npz")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "784" in err


def test_a_checkpoint_directory_is_read_like_the_other_verbs_read_it(tmp_path, capsys):
    """``serve runs/a`` loads runs/a/last.npz, as evaluate, predict, report and finetune do."""
    from nnscratch import DeepNeuralNetwork

    (tmp_path / "empty").mkdir()
    assert main(["serve", str(tmp_path / "empty")]) == 1
    assert "folder without a checkpoint (last.npz)" in capsys.readouterr().err
    (tmp_path / "run").mkdir()
    DeepNeuralNetwork(sizes=[10, 4, 3], seed=0).save(tmp_path / "run" / "last.npz")
    assert main(["serve", str(tmp_path / "run")]) == 1  # read, then refused: it cannot read 28x28 drawings
    err = capsys.readouterr().err
    assert "last.npz expects 10 inputs" in err and "does not exist" not in err


def test_real_server_answers_then_stops_on_ctrl_c(tmp_path):
    from nnscratch import DeepNeuralNetwork

    model = tmp_path / "mine.npz"
    DeepNeuralNetwork(sizes=[784, 8, 10], seed=0).save(model)
    server = Server(str(model), data_home=tmp_path / "data")
    try:
        with urllib.request.urlopen(server.url + "healthz", timeout=10) as response:
            assert json.load(response) == {"status": "ok", "model": "mine.npz"}
        with urllib.request.urlopen(server.url + "api/model", timeout=10) as response:
            assert json.load(response)["sizes"] == [784, 8, 10]
    finally:
        code, log = server.stop()
    assert code == 0, log
    assert "Traceback" not in log and "stopped" in log


def test_open_opens_the_page_in_a_browser(monkeypatch, capsys):
    import time

    import uvicorn

    opened: list[str] = []
    monkeypatch.setattr(serve_cli.webbrowser, "open", opened.append)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: time.sleep(1.5))
    assert main(["serve", "--port", "0", "--open"]) == 0
    url = capsys.readouterr().err.split()[2]
    assert opened == [url] and url.startswith("http://127.0.0.1:")
