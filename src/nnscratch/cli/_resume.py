"""``nnscratch train --resume``: what a checkpointed run continues with, and what an interrupted run
leaves behind (the line Ctrl-C prints)."""

from __future__ import annotations

from pathlib import Path

from nnscratch.cli import common
from nnscratch.cli.common import UsageError
from nnscratch.errors import NNScratchError

SPLIT_DEFAULTS = {"split": "official", "val_fraction": 0.15, "split_seed": 42, "dataset": "mnist"}


def resume(args, given: list[str]):
    """The checkpointed network and the directory its checkpoints go to; ``args`` completed from it.
    ``given``: the preset options typed, refused (a resumed run keeps its own settings)."""
    if given or args.preset:
        flags = ", ".join(common.FLAGS.get(k, "--" + k.replace("_", "-")) for k in given) or "--preset"
        raise UsageError(f"{flags}: a resumed run keeps its own settings (only --epochs can change)")
    source = common.resolve_model(args.resume)
    net = load_checkpoint(source)
    recorded = {**SPLIT_DEFAULTS, **recorded_split(net)}
    for key, value in recorded.items():
        typed = getattr(args, key)
        if typed is not None and typed != value:
            flag = "--" + key.replace("_", "-")
            raise UsageError(
                f"{flag} {typed}: the run in {args.resume} used {value}; a resumed run keeps its data"
            )
        setattr(args, key, value)
    args.resume_until = resume_target(net, getattr(args, "epochs", None), source)
    return net, args.checkpoint_dir or source.parent


def load_checkpoint(path: Path):
    from nnscratch.training.modelfile import load_arrays
    from nnscratch.training.trainer import DeepNeuralNetwork

    if load_arrays(path)[1].get("kind") != "checkpoint":
        raise UsageError(
            f"--resume {path} is a model file, not a checkpoint; give the folder of "
            "--checkpoint-dir (or its last.npz)"
        )
    return DeepNeuralNetwork.load(path)


def recorded_split(net) -> dict:
    split = net.metadata.get("split", {})
    values = {
        "split": split.get("split"),
        "val_fraction": split.get("val_fraction"),
        "split_seed": split.get("seed"),
        "dataset": net.metadata.get("dataset"),
    }
    return {k: v for k, v in values.items() if v is not None}


def resume_target(net, epochs: int | None, source: Path) -> int:
    """How many epochs the resumed run ends with: the planned number, or ``--epochs`` when possible."""
    done = len(net.history)
    planned = net.training_state.target_epochs
    if epochs is None or epochs == planned:
        return planned
    if epochs < done:
        raise UsageError(f"--epochs {epochs}: {source} has already trained {done} epochs")
    schedule = net.schedule.config()
    end = net.training_state.run_start + schedule.get("total", float("inf"))
    if schedule["name"] == "cosine" and not schedule.get("min_lr") and epochs > end:
        raise UsageError(
            f"--epochs {epochs}: the run's cosine schedule brings the learning rate to 0 at epoch {end:g}, "
            f"so later epochs would not change the weights; start a new run with --epochs {epochs} (or "
            "--schedule constant)"
        )
    return epochs


def kept(checkpoint_dir: Path | None, args) -> str:
    """What an interrupted run leaves behind, and how to continue it."""
    from nnscratch.training.modelfile import load_arrays

    last = None if checkpoint_dir is None else checkpoint_dir / "last.npz"
    if last is None or not last.is_file():
        hint = "" if checkpoint_dir else " (--checkpoint-dir DIR keeps every epoch, for --resume)"
        return f"nothing was saved{hint}"
    try:
        epoch = len(load_arrays(last)[1].get("history", []))
    except NNScratchError:
        return f"nothing usable was saved ({last} cannot be read)"
    command = f"nnscratch train --resume {checkpoint_dir}"
    command += f" --data-dir {args.data_dir}" if args.data_dir else ""
    return f"last checkpoint {last}, epoch {epoch}: continue with `{command}`"
