"""Named training recipes for ``nnscratch train --preset NAME`` and ``build_network(NAME)``.

* ``tutorial`` — the notebook's network done right: 784-128-64-10, sigmoid, softmax + cross-entropy,
  plain SGD one image at a time, learning rate 0.03, 10 epochs.
"""

from __future__ import annotations

from nnscratch.training import DeepNeuralNetwork

TUTORIAL = {
    "sizes": [784, 128, 64, 10],
    "activation": "sigmoid",
    "loss": "cross_entropy",
    "init": "tutorial",
    "epochs": 10,
    "l_rate": 0.03,
    "batch_size": 1,
    "optimizer": "sgd",
    "seed": 0,
}

PRESETS: dict[str, dict] = {"tutorial": TUTORIAL}


def preset_options(name: str, **overrides) -> dict:
    """The keyword arguments of preset ``name`` for :class:`DeepNeuralNetwork`, with ``overrides``.

    ``schedule`` may be a bare name (``cosine``, ``step``, ``exponential``, ``constant``); it is
    completed from ``epochs`` (and ``warmup`` for cosine)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    options = {**PRESETS[name], **overrides}
    warmup = options.pop("warmup", None)
    schedule = options.get("schedule")
    if isinstance(schedule, str):
        epochs = options.get("epochs", 10)
        schedule = {
            "constant": {"name": "constant"},
            "step": {"name": "step", "step_size": max(1, epochs // 3), "gamma": 0.1},
            "exponential": {"name": "exponential", "gamma": 0.9},
            "cosine": {"name": "cosine", "total": epochs, "warmup": warmup or 0.0},
        }.get(schedule, schedule)
        options["schedule"] = schedule
    elif warmup:
        raise ValueError("--warmup goes with --schedule cosine")
    return options


def build_network(name: str = "tutorial", **overrides) -> DeepNeuralNetwork:
    """A :class:`DeepNeuralNetwork` configured by preset ``name`` and ``overrides``."""
    return DeepNeuralNetwork(**preset_options(name, **overrides))
