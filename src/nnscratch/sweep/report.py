"""Sweep results: per-configuration summaries (mean ± std over seeds), a markdown table, and the
CSV / JSON / markdown files a sweep writes (each atomically)."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nnscratch._files import atomic_write
from nnscratch.sweep.runner import Sweep, format_value


def summarize(sweep: Sweep, results: Iterable[dict]) -> list[dict]:
    """One row per configuration: runs, failures, mean/std (sample, ddof=1) of accuracy and time."""
    results = list(results)
    rows = []
    for index in range(len(sweep.configs)):
        mine = [r for r in results if r["config"] == index]
        ok = [r for r in mine if r["status"] == "ok"]
        acc = np.array([r["accuracy"] for r in ok], dtype=float)
        secs = np.array([r["time_s"] for r in ok], dtype=float)
        errors = list(dict.fromkeys(r["error"] for r in mine if r["status"] != "ok"))
        rows.append(
            {
                "config": index,
                "label": sweep.label(index),
                "options": {k: sweep.value(index, k) for k in sweep.varied},
                "runs": len(mine),
                "failed": len(mine) - len(ok),
                "errors": errors,
                "accuracy_mean": float(acc.mean()) if len(ok) else None,
                "accuracy_std": float(acc.std(ddof=1)) if len(ok) > 1 else None,
                "accuracy_min": float(acc.min()) if len(ok) else None,
                "accuracy_max": float(acc.max()) if len(ok) else None,
                "time_mean": float(secs.mean()) if len(ok) else None,
                "time_std": float(secs.std(ddof=1)) if len(ok) > 1 else None,
            }
        )
    return rows


def _pm(mean, std, scale: float = 1.0, digits: int = 2) -> str:
    if mean is None:
        return "—"
    text = f"{scale * mean:.{digits}f}"
    return text if std is None else f"{text} ± {scale * std:.{digits}f}"


def markdown_table(sweep: Sweep, summary: Sequence[dict], sizes: tuple[int, int] | None = None) -> str:
    """The summary as a markdown table (accuracy in %, time per run in seconds), with a caption
    naming the data (``sizes`` = the numbers of training and test images actually used)."""
    labels = sweep.labelled or not sweep.varied
    head = [
        *(["configuration"] if labels else []),
        *sweep.varied,
        "runs",
        "test accuracy (%)",
        "min – max (%)",
        "time per run (s)",
    ]
    any_failed = any(row["failed"] for row in summary)
    if any_failed:
        head.append("failures")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in summary:
        label = str(sweep.configs[row["config"]].get("label", "")) if sweep.labelled else row["label"]
        cells = [*([label] if labels else []), *(format_value(row["options"][k]) for k in sweep.varied)]
        span = (
            "—"
            if row["accuracy_min"] is None
            else (f"{100 * row['accuracy_min']:.2f} – {100 * row['accuracy_max']:.2f}")
        )
        seconds = 1 if (row["time_mean"] or 0) >= 10 else 2
        cells += [
            str(row["runs"]),
            _pm(row["accuracy_mean"], row["accuracy_std"], 100),
            span,
            _pm(row["time_mean"], row["time_std"], digits=seconds),
        ]
        if any_failed:
            errors = "; ".join(e.replace("|", "/").replace("\n", " ") for e in row["errors"])
            cells.append(f"{row['failed']} failed: {errors}" if row["failed"] else "")
        lines.append("| " + " | ".join(cells) + " |")
    n_train, n_test = sizes or (sweep.train_size or "all", sweep.test_size or "all")
    images = f"{n_train} training / {n_test} test images"
    seeds = ", ".join(map(str, sweep.seeds))
    caption = (
        f"{sweep.name}: {sweep.dataset}, {images}, seeds {seeds}; "
        "mean ± sample standard deviation over the seeds that ran"
    )
    return caption + "\n\n" + "\n".join(lines) + "\n"


CSV_FIELDS = (
    "config",
    "label",
    "seed",
    "status",
    "accuracy",
    "test_loss",
    "train_loss",
    "epochs",
    "time_s",
    "worker",
    "error",
)


def results_csv(sweep: Sweep, results: Iterable[dict]) -> str:
    """One CSV row per run: its configuration (index, label and varied options), seed and outcome."""
    fields = [*CSV_FIELDS[:3], *sweep.varied, *CSV_FIELDS[3:]]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for record in results:
        row = {k: record.get(k) for k in CSV_FIELDS}
        row.update({k: format_value(sweep.value(record["config"], k)) for k in sweep.varied})
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def write_results(
    out_dir: str | os.PathLike,
    sweep: Sweep,
    results: Sequence[dict],
    info: dict | None = None,
    sizes: tuple[int, int] | None = None,
) -> dict[str, Path]:
    """Write ``results.csv``, ``results.json`` (sweep, runs, summary and ``info``) and ``summary.md``
    into ``out_dir``; return their paths by kind. ``sizes``: see :func:`markdown_table`."""
    from nnscratch._version import __version__

    out = Path(out_dir)
    summary = summarize(sweep, results)
    document = {
        "name": sweep.name,
        "dataset": sweep.dataset,
        "train_size": sweep.train_size,
        "test_size": sweep.test_size,
        "seeds": sweep.seeds,
        "threads": sweep.threads,
        "base": sweep.base,
        "configs": sweep.configs,
        "varied": sweep.varied,
        "nnscratch_version": __version__,
        "numpy_version": np.__version__,
        **(info or {}),
        "summary": summary,
        "results": list(results),
    }
    texts = {
        "csv": ("results.csv", results_csv(sweep, results)),
        "json": ("results.json", json.dumps(document, indent=2, default=str) + "\n"),
        "markdown": ("summary.md", markdown_table(sweep, summary, sizes)),
    }
    paths = {}
    for kind, (name, text) in texts.items():
        paths[kind] = atomic_write(out / name, _writer(text.encode("utf-8")))
    return paths


def _writer(data: bytes) -> Callable[[BinaryIO], object]:
    return lambda fh: fh.write(data)
