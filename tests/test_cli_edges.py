"""The command line at the edges a user touches (issue 10, items 3-8 and 10; issue 9's CLI bugs):
pipes closed early, files that are not models, outputs checked before training, Ctrl-C, the README's
train -> evaluate -> predict -> report sequence, the epoch log, logging, help texts, class names."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from nnscratch import DeepNeuralNetwork
from nnscratch.cli import main

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--sizes",
    "784,16,10",
    "--batch-size",
    "128",
    "--lr",
    "0.5",
    "--schedule",
    "constant",
    "--no-progress",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """`nnscratch train` saves model.npz in the working directory by default: keep it in tmp_path."""
    monkeypatch.chdir(tmp_path)


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "nnscratch", *args]


def _model(tmp_path: Path, dataset: str = "mnist", name: str = "m.npz") -> Path:
    net = DeepNeuralNetwork([784, 16, 10], epochs=0, seed=0, verbose=False)
    net.metadata["dataset"] = dataset
    return net.save(tmp_path / name)


def _digit_pngs(mnist_path: Path, folder: Path, n: int) -> Path:
    from PIL import Image

    from datahelpers import read_mnist

    folder.mkdir()
    digits, _ = read_mnist(mnist_path, "t10k", n)
    for i, digit in enumerate(digits):
        Image.fromarray(digit).save(folder / f"d{i:02d}.png")
    return folder


# ---------------------------------------------------------------------------- 3. no traceback, ever


def _into_closed_pipe(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run ``nnscratch ARGV | head -n 0``: head has left before the first line arrives, the worst case
    of ``| head -3``. Returns the nnscratch process (its stderr captured)."""
    writer = subprocess.Popen(_cli(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, cwd=cwd)
    head = subprocess.Popen(["head", "-n", "0"], stdin=writer.stdout)
    writer.stdout.close()  # only head holds the reading end now
    head.wait(timeout=60)
    err = writer.stderr.read().decode()
    writer.wait(timeout=120)
    return subprocess.CompletedProcess(argv, writer.returncode, "", err)


@pytest.mark.parametrize("verb", ["evaluate", "predict", "data"])
def test_output_into_a_closed_pipe_ends_quietly(verb, mnist_path, tmp_path):
    if verb == "evaluate":
        argv = ["evaluate", str(_model(tmp_path)), "--data-dir", str(mnist_path), "--json"]
    elif verb == "predict":
        pytest.importorskip("PIL")
        argv = ["predict", str(_model(tmp_path)), str(_digit_pngs(mnist_path, tmp_path / "pics", 20))]
    else:
        argv = ["data", "info", "--data-dir", str(mnist_path), "--dataset", "mnist"]
    done = _into_closed_pipe(argv, tmp_path)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.stderr == "" and done.returncode == 141


@pytest.mark.parametrize("kind", ["npy", "text", "pickle"])
def test_a_file_that_is_not_a_model_is_named_as_such(kind, tmp_path, capsys):
    path = tmp_path / f"model_{kind}.{'npy' if kind == 'npy' else 'bin'}"
    if kind == "npy":
        np.save(path, np.zeros((3, 3)))
    elif kind == "text":
        path.write_text("hello, I am a text file\n")
    else:
        import pickle

        path.write_bytes(pickle.dumps({"W1": [1, 2]}))
    for verb in (
        ["evaluate", str(path)],
        ["predict", str(path), str(tmp_path)],
        ["report", str(path), "--out", "r"],
    ):
        assert main(verb) == 1
        err = capsys.readouterr().err
        assert err.startswith("nnscratch: error: ") and err.count("\n") == 1, err
        assert "not an nnscratch model file" in err and "allow_pickle" not in err and "pickle.load" not in err


# ---------------------------------------------------------------------------- 4. outputs checked first


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--save", "afile/model.npz"], "--save afile/model.npz: {tmp}/afile is a file, not a folder"),
        (
            ["--checkpoint-dir", "afile/run"],
            "--checkpoint-dir afile/run: {tmp}/afile is a file, not a folder",
        ),
        (["--checkpoint-dir", "afile"], "--checkpoint-dir afile is a file, not a folder"),
        (["--save", "."], "--save . is a folder; give a file name such as model.npz"),
        (["--save", "old.npz"], "--save old.npz: the file exists; pass --force to replace it"),
    ],
)
def test_outputs_are_checked_before_any_training(argv, message, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "old.npz").write_bytes(b"my hour-long model")
    # --data-dir points nowhere: the output check must come first, before the data is even read
    assert main(["train", "--data-dir", str(tmp_path / "nowhere"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"nnscratch: error: {message.format(tmp=tmp_path)}"
    assert (tmp_path / "old.npz").read_bytes() == b"my hour-long model"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_folder_is_refused_before_training(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["train", "--data-dir", str(tmp_path), "--save", str(locked / "sub" / "m.npz")]) == 2
    assert "the folder cannot be created" in capsys.readouterr().err


def test_save_replaces_only_with_force_and_says_so(mnist_path, tmp_path, capsys):
    target = tmp_path / "old.npz"
    target.write_bytes(b"old")
    assert (
        main(["train", "--data-dir", str(mnist_path), *TINY, "--epochs", "1", "--save", "old.npz", "--force"])
        == 0
    )
    assert "model saved to old.npz (replacing the previous file)" in capsys.readouterr().out
    assert len(DeepNeuralNetwork.load(target).history) == 1


def test_a_checkpoint_dir_holding_another_run_is_not_overwritten(mnist_path, tmp_path, capsys):
    run = [
        "train",
        "--data-dir",
        str(mnist_path),
        *TINY,
        "--epochs",
        "1",
        "--no-save",
        "--checkpoint-dir",
        "runs/a",
    ]
    assert main(run) == 0
    before = (tmp_path / "runs/a/last.npz").read_bytes()
    assert main(run) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "nnscratch: error: --checkpoint-dir runs/a holds another run's checkpoint: continue it with "
        "--resume runs/a, or pass --force to start a new run over it"
    )
    assert (tmp_path / "runs/a/last.npz").read_bytes() == before


# ---------------------------------------------------------------------------- 5. Ctrl-C and resume


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"training ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_ctrl_c_names_the_last_checkpoint_and_how_to_continue(mnist_path, tmp_path, capsys):
    ckpt = tmp_path / "runs" / "a"
    argv = ["train", "--data-dir", str(mnist_path), *TINY, "--epochs", "60", "--checkpoint-dir", str(ckpt)]
    proc = subprocess.Popen(_cli(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            cwd=tmp_path)  # fmt: skip
    _wait_for((ckpt / "last.npz").exists, proc, "the first checkpoint")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    epoch = len(DeepNeuralNetwork.load(ckpt / "last.npz").history)
    assert 1 <= epoch < 60
    assert err.strip().splitlines()[-1] == (
        f"nnscratch: interrupted; last checkpoint {ckpt}/last.npz, epoch {epoch}: continue with "
        f"`nnscratch train --resume {ckpt} --data-dir {mnist_path}`"
    )
    assert not (tmp_path / "model.npz").exists()
    # --resume takes the checkpoint file as well as its folder, and --epochs N trains on to N epochs
    assert main(["train", "--resume", str(ckpt / "last.npz"), "--data-dir", str(mnist_path), "--no-progress",
                 "--epochs", str(epoch + 1), "--save", "resumed.npz"]) == 0  # fmt: skip
    assert f"resuming after epoch {epoch} of {epoch + 1}" in capsys.readouterr().out
    assert len(DeepNeuralNetwork.load(tmp_path / "resumed.npz").history) == epoch + 1
    # evaluate takes the checkpoint folder
    assert main(["evaluate", str(ckpt), "--data-dir", str(mnist_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 10000 and f"using {ckpt}/last.npz" in captured.err


def test_ctrl_c_without_checkpoints_says_nothing_was_saved(mnist_path, tmp_path):
    argv = ["train", "--data-dir", str(mnist_path), *TINY, "--epochs", "60"]
    proc = subprocess.Popen(_cli(*argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            cwd=tmp_path)  # fmt: skip
    assert proc.stdout.readline().startswith("mnist: 51000 training")
    assert proc.stdout.readline().startswith("network 784-16-10")
    assert proc.stdout.readline().startswith("Epoch 1/60 · ")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        "nnscratch: interrupted; nothing was saved (--checkpoint-dir DIR keeps every epoch, for --resume)"
    )
    assert not (tmp_path / "model.npz").exists()


def test_ctrl_c_inside_an_eval_still_exits_130(mnist_path, tmp_path):
    """CPython marks a KeyboardInterrupt that passes through an ``eval``/``exec`` of a string (as inside
    NumPy's and SciPy's imports) as unhandled, and kills the process with SIGINT at exit (-2) although
    ``train`` caught it and said what was kept. The CLI must still exit 130. Seen in CI: a Ctrl-C landed
    in SciPy's first import, which then ran inside epoch 1. Run with ``-m`` as ``python -m nnscratch``
    is: a script run as a file exits through another path, which does not look at that mark."""
    train = ["train", "--data-dir", str(mnist_path), *TINY, "--batch-size", "1", "--no-save"]  # per image
    script = tmp_path / "interrupt_in_exec.py"
    script.write_text(
        "import sys\n"
        "from nnscratch.cli import main\n"
        "from nnscratch.training import trainer\n"
        "trainer.import_fast_kernels = lambda: exec('raise KeyboardInterrupt')\n"  # where CI's Ctrl-C landed
        f"sys.exit(main({train!r}))\n"
    )
    argv = [sys.executable, "-m", script.stem]
    proc = subprocess.run(argv, capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert proc.returncode == 130, proc.stderr[-800:]
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("nnscratch: interrupted; nothing was saved")


def test_ctrl_c_closes_the_progress_bar_before_saying_what_was_kept(mnist_path, tmp_path):
    """On a terminal: the bar is drawn on stderr; after Ctrl-C the message starts a clean line."""
    pytest.importorskip("tqdm")
    argv = ["train", "--data-dir", str(mnist_path), "--sizes", "784,16,10", "--epochs", "60"]
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a 100-column terminal
    proc = subprocess.Popen(_cli(*argv, "--no-save"), stdout=subprocess.DEVNULL, stderr=secondary, env=ENV,
                            cwd=tmp_path)  # fmt: skip
    os.close(secondary)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(primary, 4096)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    _wait_for(lambda: b"img/s" in b"".join(chunks), proc, "the progress bar")
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    os.close(primary)
    text = b"".join(chunks).decode("utf-8", "replace")
    assert proc.returncode == 130 and "Traceback" not in text
    segments = re.split(r"[\r\n]", text)
    message = next(s for s in segments if "interrupted" in s)
    assert message.startswith("nnscratch: interrupted; nothing was saved"), repr(text[-400:])
    assert "img/s" not in text[text.index("nnscratch: interrupted") :]


def test_resume_refuses_changes_it_cannot_honour(mnist_path, tmp_path, capsys):
    base = ["train", "--data-dir", str(mnist_path), *TINY, "--no-save"]
    assert main([*base, "--epochs", "2", "--checkpoint-dir", "c", "--schedule", "cosine"]) == 0
    capsys.readouterr()
    resume = ["train", "--data-dir", str(mnist_path), "--no-progress", "--no-save", "--resume", "c"]
    cosine = (
        "--epochs 4: the run's cosine schedule brings the learning rate to 0 at epoch 2, so later epochs "
        "would not change the weights; start a new run with --epochs 4 (or --schedule constant)"
    )
    cases = [
        (["--epochs", "1"], "--epochs 1: c/last.npz has already trained 2 epochs"),
        (["--epochs", "4"], cosine),
        (["--lr", "0.1"], "--lr: a resumed run keeps its own settings (only --epochs can change)"),
        (
            ["--val-fraction", "0.2"],
            "--val-fraction 0.2: the run in c used 0.15; a resumed run keeps its data",
        ),
    ]
    for extra, message in cases:
        assert main([*resume, *extra]) == 2
        assert capsys.readouterr().err.strip() == f"nnscratch: error: {message}"
    model = _model(tmp_path)
    assert main([*resume[:-1], str(model)]) == 2
    assert "is a model file, not a checkpoint" in capsys.readouterr().err


# ---------------------------------------------------------------------------- 6. the README's sequence


def test_train_then_evaluate_predict_report_as_typed(mnist_path, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("PIL")
    assert main(["train", "--data-dir", str(mnist_path), *TINY, "--epochs", "1"]) == 0
    assert "model saved to model.npz" in capsys.readouterr().out
    assert (tmp_path / "model.npz").is_file()
    assert main(["evaluate", "model.npz", "--data-dir", str(mnist_path)]) == 0
    assert "Test accuracy on the official mnist test set" in capsys.readouterr().out
    pics = _digit_pngs(mnist_path, tmp_path / "photos", 2)
    assert main(["predict", "model.npz", str(pics / "d00.png"), str(pics)]) == 0
    assert capsys.readouterr().out.startswith(f"{pics / 'd00.png'}: ")
    assert main(["report", "model.npz", "--out", "report/", "--data-dir", str(mnist_path)]) == 0
    assert "report written to report/report.html" in capsys.readouterr().out
    # a second run says that it will replace the model, and does
    assert main(["train", "--data-dir", str(mnist_path), *TINY, "--epochs", "2"]) == 0
    captured = capsys.readouterr()
    assert "(the model will replace model.npz; --save FILE keeps it)" in captured.err
    assert "model saved to model.npz (replacing the previous file)" in captured.out
    assert len(DeepNeuralNetwork.load(tmp_path / "model.npz").history) == 2


# ---------------------------------------------------------------------------- 7. logs


def test_no_progress_bar_when_stderr_is_not_a_terminal(mnist_path, tmp_path):
    argv = [
        "train",
        "--data-dir",
        str(mnist_path),
        "--sizes",
        "784,16,10",
        "--batch-size",
        "128",
        "--epochs",
        "1",
    ]
    done = subprocess.run(_cli(*argv), capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no bar, no carriage returns: a clean log
    assert re.search(r"^Epoch 1/1 · .* · val_acc \d+\.\d\d %$", done.stdout, re.M)


def test_log_messages_go_to_stderr_and_json_stays_valid(mnist_path, tmp_path, capsys, monkeypatch):
    import nnscratch.data

    load = nnscratch.data.load_dataset

    def chatty(name, data_dir=None, **kwargs):
        logging.getLogger("nnscratch.data.download").info("downloading %s from a mirror", name)
        return load(name, data_dir, **kwargs)

    monkeypatch.setattr(nnscratch.data, "load_dataset", chatty)
    assert main(["evaluate", str(_model(tmp_path)), "--data-dir", str(mnist_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["dataset"] == "mnist"
    assert "downloading mnist from a mirror" in captured.err


def test_matplotlib_noise_stays_out_of_the_report_verb(mnist_path, tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "not-a-dir").write_text("")  # matplotlib warns that it cannot use this config folder
    env = {**ENV, "MPLCONFIGDIR": str(tmp_path / "not-a-dir")}
    argv = ["report", str(_model(tmp_path)), "--out", "rep", "--data-dir", str(mnist_path)]
    done = subprocess.run(_cli(*argv), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "atplotlib" not in done.stdout + done.stderr
    assert done.stdout == "report written to rep/report.html\n"


# ---------------------------------------------------------------------------- 8. warnings and help


def test_epochs_zero_and_an_absurd_learning_rate_warn(tmp_path, capsys):
    (tmp_path / "afile").write_text("")  # the run then stops at the --save check, before any data
    assert main(["train", "--epochs", "0", "--lr", "1000", "--data-dir", str(tmp_path / "nowhere"),
                 "--save", "afile/x.npz"]) == 2  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "nnscratch: warning: --epochs 0 trains nothing: the network is tested as initialised"
    assert lines[1].startswith("nnscratch: warning: --lr 1000 is far above what sgd trains with")
    main(["train", "--optimizer", "adam", "--lr", "0.5", "--save", "afile/x.npz"])
    assert "--lr 0.5 is far above what adam trains with" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["train", "evaluate", "predict", "report", "sweep"])
def test_help_shows_only_meaningful_defaults_and_no_markup(verb, capsys):
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text and "(default: True)" not in text and "(default: False)" not in text
    assert ":mod:" not in text and ":func:" not in text and "``" not in text
    if verb == "report":
        out_help = text[text.index("--out DIR") :].split("\n  -")[0]
        assert "default" not in out_help
    if verb == "predict":
        assert "(default: 3)" in text  # a real default is still shown
    if verb == "sweep":
        assert "(default: 1)" in text  # even one that equals True
    if verb == "train":  # a preset's value on a dataset with its own variant of it is shown too
        augment = "".join(text[text.index("--augment, --no-augment") :].split("\n  -")[0].split())
        assert augment.endswith("[tutorial:off,best:on;bestonfashion-mnist:off]"), augment


# ---------------------------------------------------------------------------- 10. and issue 9's bugs


def test_gitignore_covers_what_the_readme_examples_create(tmp_path):
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    created = [
        *("model.npz", "best.npz", "runs/a/last.npz", "report/report.html", "report/calibration.png"),
        *("seen/seven_28x28.png", "sweeps/grid/results.csv", "data/fashion/train-images-idx3-ubyte.gz"),
    ]
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", *created], cwd=REPO, capture_output=True, text=True
    )
    assert sorted(done.stdout.split()) == sorted(created)
    kept = ["src/nnscratch/data/registry.py", "tests/data/model.npz"]
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", *kept], cwd=REPO, capture_output=True, text=True
    )
    assert done.stdout == ""


def test_a_missing_extra_is_reported_once(mnist_path, tmp_path, capsys, monkeypatch):
    pytest.importorskip("PIL")
    pics = _digit_pngs(mnist_path, tmp_path / "pics", 5)
    for name in [m for m in sys.modules if m == "PIL" or m.startswith("PIL.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PIL", None)  # import PIL now fails, as without the plots extra
    assert main(["predict", str(_model(tmp_path)), str(pics)]) == 1
    err = capsys.readouterr().err
    assert (
        err
        == "nnscratch: error: predict needs Pillow, which is not installed: pip install 'nnscratch[plots]'\n"
    )


def test_a_fashion_model_names_its_classes(mnist_path, tmp_path, capsys):
    pytest.importorskip("PIL")
    from nnscratch.data.registry import FASHION_MNIST

    pics = _digit_pngs(mnist_path, tmp_path / "pics", 1)
    model = _model(tmp_path, "fashion-mnist")
    assert main(["predict", str(model), str(pics / "d00.png"), "--top-k", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = FASHION_MNIST.class_names
    assert lines[0].split(": ", 1)[1] in names
    assert lines[1].split() == ["class", "probability"] and "digit" not in "\n".join(lines)
    assert lines[2].strip().rsplit(None, 2)[0] in names
    assert main(["predict", str(model), str(pics / "d00.png"), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]["top_k"][0]
    assert row["name"] == names[row["class"]]


@pytest.mark.skipif(not (FASHION / "t10k-images-idx3-ubyte.gz").exists(), reason="no Fashion-MNIST copy")
def test_report_and_evaluate_use_the_models_own_dataset(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model = _model(tmp_path, "fashion-mnist")
    assert main(["evaluate", str(model), "--data-dir", str(FASHION), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"] == "fashion-mnist"
    assert main(["report", str(model), "--out", "rep", "--data-dir", str(FASHION)]) == 0
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "m.npz on fashion-mnist" in html


def test_evaluating_a_tutorial_split_model_warns_that_it_saw_test_images(mnist_path, tmp_path, capsys):
    net = DeepNeuralNetwork([784, 16, 10], epochs=0, seed=0, verbose=False)
    net.metadata.update(dataset="mnist", split={"split": "tutorial", "val_fraction": 0.15, "seed": 42})
    model = net.save(tmp_path / "tut.npz")
    assert main(["evaluate", str(model), "--data-dir", str(mnist_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 10000
    assert "trains on part of the official test set: this test accuracy is optimistic" in captured.err
