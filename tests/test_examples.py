"""The examples run as documented."""

from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_tutorial_flow_learns_in_one_epoch(mnist_path, capsys):
    spec = importlib.util.spec_from_file_location("tutorial_flow", EXAMPLES / "tutorial_flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    history = module.main(["--epochs", "1", "--data-dir", str(mnist_path)])
    # Unseeded, like the notebook: measured 96.06-96.26 % over six runs (seeds 0-3 and two unseeded).
    # 95.5 % is 0.56 points below the lowest, about three times the whole observed spread.
    assert len(history) == 1 and history[0]["val_accuracy"] > 0.955
    assert capsys.readouterr().out.startswith("Epoch: 1, Time Spent: ")
