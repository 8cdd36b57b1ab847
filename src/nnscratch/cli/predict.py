"""``nnscratch predict MODEL IMG...``: read handwritten digits from your own pictures.

Every image (files, or folders of images) goes through :func:`nnscratch.images.preprocess.preprocess_image`,
the same MNIST-style preprocessing the web app and the Python API use, and the network's top-k digits
are printed as a small table per image, or as one JSON document with ``--json``. A file that cannot be
read is reported on stderr and the others continue; the exit code is 1 if any image failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch.errors import ImageError, ModelFileError

#: Suffix of the files ``--show-input`` writes (never the name of an input file, so nothing is overwritten).
INPUT_SUFFIX = "_28x28.png"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``predict`` verb."""
    parser = subparsers.add_parser(
        "predict",
        help="read digits from your own images (PNG, JPEG, ...)",
        description=(
            "Predict the digit in each image. Images are preprocessed like MNIST: grey levels, dark ink on "
            "light paper inverted, cropped to the ink, fitted into 20x20 and centred by mass in 28x28."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("model", metavar="MODEL", help="model file written by 'nnscratch train' (.npz)")
    parser.add_argument(
        "images", metavar="IMG", nargs="+", help="image files or folders of images (any format Pillow reads)"
    )
    parser.add_argument(
        "--top-k", metavar="K", type=_positive_int, default=3, help="how many likely digits to list"
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


def _table(entry: dict[str, Any]) -> str:
    lines = [f"{entry['path']}: {entry['prediction']}", "  digit  probability"]
    lines += [f"  {row['digit']:>5}  {100 * row['probability']:>9.2f} %" for row in entry["top_k"]]
    if "input_png" in entry:
        lines.append(f"  network input saved to {entry['input_png']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Predict every image; print tables or JSON; return 1 if any image could not be used."""
    from nnscratch import DeepNeuralNetwork
    from nnscratch.images.preprocess import SIZE, load_images

    net = DeepNeuralNetwork.load(args.model)
    n_inputs = int(net.params["W1"].shape[1])
    if n_inputs != SIZE * SIZE:
        raise ModelFileError(
            f"{args.model} expects {n_inputs} inputs, but images are turned into {SIZE}x{SIZE} = "
            f"{SIZE * SIZE} pixels, so this model cannot read pictures"
        )
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
            "top_k": [{"digit": int(d), "probability": float(proba[d])} for d in order],
        }
        if args.show_input is not None:
            entry["input_png"] = str(_save_input(item, args.show_input, path, used))
        results.append(entry)
        if not args.json:
            print(_table(entry), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    if failed:
        print(f"nnscratch: {failed} of {len(results)} images could not be read", file=sys.stderr)
    return 1 if failed else 0
