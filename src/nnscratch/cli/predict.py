"""``nnscratch predict [MODEL] IMG...``: read handwritten digits (or whatever the model's dataset holds)
from your own pictures.

The model is ``--model MODEL``, or else the first of two or more arguments unless that is an image
(a file with an image extension, or a folder without a checkpoint's ``last.npz``), so
``nnscratch predict model.npz photo.jpg`` keeps working; or else the model shipped with nnscratch, so
``nnscratch predict photo.jpg`` works on a fresh install.

Every image (files, or folders of images) goes through ``nnscratch.images.preprocess.preprocess_image``,
the same MNIST-style preprocessing the web app and the Python API use, and the network's top-k classes
(named as in the dataset registry: digits for MNIST, articles for Fashion-MNIST) are printed as a small
table per image, or as one JSON document with ``--json``. A file that cannot be read is reported on
stderr and the others continue; the exit code is 1 if any image failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch._optional import require
from nnscratch.cli import common
from nnscratch.errors import ImageError, ModelFileError, NNScratchError

#: Suffix of the files ``--show-input`` writes (never the name of an input file, so nothing is overwritten).
INPUT_SUFFIX = "_28x28.png"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` verb."""
    parser = common.add_verb(
        subparsers,
        "predict",
        "read digits from your own images (PNG, JPEG, ...)",
        "Predict the digit (or the class of the model's dataset) in each image. Images are preprocessed "
        "like MNIST: grey levels, dark ink on light paper inverted, cropped to the ink, fitted into 20x20 "
        "and centred by mass in 28x28.",
    )
    parser.usage = (
        "nnscratch predict [-h] [--model MODEL] [--top-k K] [--json] [--show-input DIR] [MODEL] IMG [IMG ...]"
    )
    parser.add_argument(
        "images",
        metavar="IMG",
        nargs="+",
        help="image files or folders of images (any format Pillow reads); without --model, the first of two "
        "or more arguments is the model unless it is an image file or a folder of images",
    )
    parser.add_argument(
        "--model",
        metavar="MODEL",
        type=Path,
        default=argparse.SUPPRESS,
        help="a model file from `nnscratch train`, or a checkpoint directory (its last.npz) "
        "[default: the model shipped with nnscratch]",
    )
    parser.add_argument(
        "--top-k", metavar="K", type=common.positive_int, default=3, help="how many likely classes to list"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    parser.add_argument(
        "--show-input",
        metavar="DIR",
        type=Path,
        default=None,
        help=f"save the 28x28 image the network actually saw as DIR/<name>{INPUT_SUFFIX}",
    )
    parser.set_defaults(handler=run)


def _save_input(image: np.ndarray, folder: Path, source: Path, used: set[str]) -> Path:
    """Write the network's 28×28 input as an 8-bit grey PNG in ``folder`` (unique name per run)."""
    from PIL import Image

    from nnscratch._files import atomic_write

    name, n = f"{source.stem}{INPUT_SUFFIX}", 1
    while name in used:
        n += 1
        name = f"{source.stem}-{n}{INPUT_SUFFIX}"
    used.add(name)
    pixels = Image.fromarray(np.round(image * 255.0).astype(np.uint8))
    return atomic_write(folder / name, lambda fh: pixels.save(fh, format="PNG"))


def _table(entry: dict[str, Any], word: str) -> str:
    if word == "digit":
        lines = [f"{entry['path']}: {entry['prediction']}", "  digit  probability"]
        lines += [f"  {row['class']:>5}  {100 * row['probability']:>9.2f} %" for row in entry["top_k"]]
    else:
        width = max(len(word), *(len(row["name"]) for row in entry["top_k"]))
        lines = [f"{entry['path']}: {entry['name']}", f"  {word:<{width}}  probability"]
        lines += [f"  {row['name']:<{width}}  {100 * row['probability']:>9.2f} %" for row in entry["top_k"]]
    if "input_png" in entry:
        lines.append(f"  network input saved to {entry['input_png']}")
    return "\n".join(lines)


def _is_image(text: str) -> bool:
    """An image file (by its extension) or a folder that is not a checkpoint (no last.npz in it)."""
    from nnscratch.images.preprocess import IMAGE_EXTENSIONS

    path = Path(text)
    if path.is_dir():
        return not (path / "last.npz").is_file()
    return path.suffix.lower() in IMAGE_EXTENSIONS


def choose_model(args: argparse.Namespace) -> None:
    """Set ``args.model`` and ``args.images``: --model; else the first of two or more arguments unless it
    is an image (file or folder); else the model shipped with nnscratch."""
    from nnscratch.models import DEFAULT_MODEL

    args.model = getattr(args, "model", None)
    first = args.images[0]
    if args.model is None and len(args.images) == 1 and first.lower().endswith(".npz"):
        raise NNScratchError(f"no images given after the model {first}")
    if args.model is None and len(args.images) > 1 and not _is_image(first):
        args.model, args.images = Path(first), args.images[1:]
    elif args.model is None:
        args.model = DEFAULT_MODEL


def run(args: argparse.Namespace) -> int:
    """Predict every image; print tables or JSON; return 1 if any image could not be used."""
    from nnscratch.images.preprocess import SIZE, load_images

    _require_pillow()
    choose_model(args)
    if args.show_input is not None:
        common.check_writable_dir(args.show_input, "--show-input")
    net = common.load_model(args.model)
    n_inputs = int(net.params["W1"].shape[1])
    if n_inputs != SIZE * SIZE:
        raise ModelFileError(
            f"{args.model} expects {n_inputs} inputs, but images are turned into {SIZE}x{SIZE} = "
            f"{SIZE * SIZE} pixels, so this model cannot read pictures"
        )
    dataset = net.metadata.get("dataset")
    names = common.class_names(dataset) or tuple(str(k) for k in range(net.sizes[-1]))
    word = common.class_word(dataset)
    results: list[dict[str, Any]] = []
    used: set[str] = set()
    failed = 0
    for path, item in load_images(args.images):
        if isinstance(item, ImageError):
            failed += 1
            print(f"nnscratch: error: {item}", file=sys.stderr, flush=True)
            results.append({"path": str(path), "error": str(item)})
            continue
        proba = np.asarray(net.predict_proba(item.reshape(1, -1)), dtype=np.float64).reshape(-1)
        order = np.argsort(-proba, kind="stable")[: args.top_k]
        entry: dict[str, Any] = {
            "path": str(path),
            "prediction": int(order[0]),
            "name": names[order[0]],
            "top_k": [{"class": int(k), "name": names[k], "probability": float(proba[k])} for k in order],
        }
        if args.show_input is not None:
            entry["input_png"] = str(_save_input(item, args.show_input, path, used))
        results.append(entry)
        if not args.json:
            print(_table(entry, word), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    if failed:
        print(f"nnscratch: {failed} of {len(results)} images could not be read", file=sys.stderr)
    return 1 if failed else 0


def _require_pillow() -> None:
    """Say once, before any image, that Pillow is missing (not once per image)."""
    require("PIL.Image", "plots", "predict", error=NNScratchError)
