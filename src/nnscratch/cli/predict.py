"""``nnscratch predict MODEL IMG...``: read handwritten digits (or whatever the model's dataset holds)
from your own pictures.

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
    common.model_argument(parser)
    parser.add_argument(
        "images", metavar="IMG", nargs="+", help="image files or folders of images (any format Pillow reads)"
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


def run(args: argparse.Namespace) -> int:
    """Predict every image; print tables or JSON; return 1 if any image could not be used."""
    from nnscratch.images.preprocess import SIZE, load_images

    _require_pillow()
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
