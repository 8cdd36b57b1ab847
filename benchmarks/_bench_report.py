"""Combine the child results of ``bench_train.py`` into rows, ratios and a markdown table."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any


def _batch_of(config: str, batch: int, sklearn_batch: int) -> int | None:
    if config == "floor":
        return batch
    if config == "sklearn":
        return sklearn_batch
    family, _, size = config.partition("-b")
    return int(size) if family in ("torch", "nnscratch") and size.isdigit() else None


def _torch_ref(config: str, row_batch: int | None, batch: int) -> str | None:
    """The PyTorch row a configuration is compared with (same batch size; sklearn: --batch)."""
    if config.startswith("torch-") or config == "floor" or row_batch is None:
        return None
    return f"torch-b{batch}" if config == "sklearn" else f"torch-b{row_batch}"


def aggregate(
    runs: list[dict], configs: list[str], threads: list[int], batch: int, sklearn_batch: int = 200
) -> list[dict]:
    """One row per (threads, configuration): median over all epochs of all rounds, and ratios."""
    rows = []
    for n_threads in threads:
        by_config: dict[str, dict] = {}
        for config in configs:
            mine = [r for r in runs if r["config"] == config and r["threads"] == n_threads]
            ok = [r for r in mine if r.get("times") and not r.get("error")]
            row: dict[str, Any] = {
                "config": config,
                "threads": n_threads,
                "batch": _batch_of(config, batch, sklearn_batch),
                "rounds": len(mine),
            }
            problems = [
                r.get("error") or f"skipped: {r['skipped']}"
                for r in mine
                if r.get("error") or r.get("skipped")
            ]
            if problems:
                row["problem"] = problems[0]
            if ok:
                times = [t for r in ok for t in r["times"]]
                accs = [r["accuracy"] for r in ok if r.get("accuracy") is not None]
                notes: list[str] = []
                for r in ok:
                    for note in r.get("notes", []) + r.get("notes_extra", []):
                        if note not in notes:
                            notes.append(note)
                row.update(
                    {
                        "unit": ok[0]["unit"],
                        "median": statistics.median(times),
                        "min": min(times),
                        "max": max(times),
                        "n": len(times),
                        "times": times,
                        "accuracy": statistics.median(accs) if accs else None,
                        "accuracies": accs,
                        "rss_mb": max(r["rss_mb"] for r in ok),
                        "notes": notes,
                        "blas": ok[0].get("blas"),
                    }
                )
            by_config[config] = row
        floor = by_config.get("floor", {}).get("median")
        for config, row in by_config.items():
            if row.get("unit") != "s/epoch":
                continue
            ref = _torch_ref(config, row["batch"], batch)
            ref_time = by_config.get(ref, {}).get("median") if ref else None
            row["torch_ref"] = ref if ref_time else None
            row["torch_over_this"] = ref_time / row["median"] if ref_time else None
            row["this_over_floor"] = row["median"] / floor if floor and config != "floor" else None
        rows.extend(by_config.values())
    return rows


def _fmt_time(row: dict) -> str:
    med = row["median"]
    return f"{med:.3g} {row['unit']}" if med < 1000 else f"{med:.0f} {row['unit']}"


def _blas_summary(rows: list[dict]) -> str:
    """Distinct BLAS / OpenMP libraries (with kernel and thread count) reported by the children."""
    seen: list[str] = []
    for row in rows:
        for lib in row.get("blas") or []:
            if lib.get("user_api") != "blas" and lib.get("internal_api") != "openmp":
                continue
            parts = [
                lib.get("internal_api"),
                lib.get("version"),
                lib.get("architecture"),
                f"({lib.get('prefix')})",
                f"× {lib.get('num_threads')} thr",
            ]
            text = " ".join(str(p) for p in parts if p)
            if text not in seen:
                seen.append(text)
    return "; ".join(seen) or "unknown"


def markdown(meta: dict, rows: list[dict], args: Any) -> str:
    """The human-readable report: a header describing the run, then one table."""
    env = meta["openblas_env"]
    env_text = ", ".join(f"{k}={v}" for k, v in env.items() if v) or "none set"
    lines = [
        f"### bench_train — {meta['date']}",
        "",
        f"- Machine: {meta['cpu']}, {meta['cores']} cores; Python {meta['python']}, "
        f"{', '.join(f'{k} {v}' for k, v in meta.get('versions', {}).items())}; commit {meta['commit']}; "
        f"load average {meta['loadavg_start'][0]:.2f} at start, {meta['loadavg_end'][0]:.2f} at end.",
        f"- BLAS seen by threadpoolctl in the children: {_blas_summary(rows)}.",
        f"- OpenBLAS tuning variables in this shell: {env_text}; in the children: "
        f"{'unset' if args.openblas_env == 'unset' else 'kept'}.",
        f"- Each configuration: its own process, {args.epochs} epoch(s) × {args.rounds} round(s), rounds "
        f"interleaved; time = median over all epochs; 784-128-64-10 {args.activation}, softmax + "
        f"cross-entropy, plain SGD, lr {args.lr} at batch 1, {args.lr_batch} for mini-batches (mean loss); "
        f"test accuracy after {args.epochs} epoch(s).",
        "- `torch ÷ this` > 1: this is faster than PyTorch at the same batch size and thread count; "
        "`this ÷ floor`: epoch time over the float32 GEMM floor at the same thread count.",
        "",
        "| config | threads | batch | median time | min–max | torch ÷ this | this ÷ floor | test acc "
        "| peak RSS | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        head = f"| {row['config']} | {row['threads']} | {row['batch'] if row['batch'] else '—'} |"
        if "median" not in row:
            lines.append(f"{head} — | — | — | — | — | — | {row.get('problem', 'no result')} |")
            continue
        spread = f"{row['min']:.3g}–{row['max']:.3g}" if row["n"] > 1 else "—"
        vs_torch = f"{row['torch_over_this']:.2f}×" if row.get("torch_over_this") else "—"
        vs_floor = f"{row['this_over_floor']:.2f}×" if row.get("this_over_floor") else "—"
        acc = f"{row['accuracy']:.4f}" if row.get("accuracy") is not None else "—"
        notes = "; ".join(row["notes"] + ([row["problem"]] if row.get("problem") else []))
        lines.append(
            f"{head} {_fmt_time(row)} | {spread} | {vs_torch} | {vs_floor} | {acc} | "
            f"{row['rss_mb']:.0f} MB | {notes} |"
        )
    return "\n".join(lines)


def machine_info(args: Any, repo: Path, env_vars: tuple[str, ...]) -> dict:
    """Where and how the run happened: CPU, Python, commit, load average, OpenBLAS variables."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        "loadavg_start": os.getloadavg(),
        "openblas_env": {k: os.environ.get(k) for k in env_vars},
        "openblas_env_mode": args.openblas_env,
    }


def versions(runs: list[dict]) -> dict[str, str]:
    """Library versions reported by the children."""
    found: dict[str, str] = {}
    for res in runs:
        if res.get("numpy"):
            found.setdefault("numpy", res["numpy"])
        for lib in ("torch", "torch_blas", "sklearn"):
            if (res.get("info") or {}).get(lib):
                found.setdefault(lib, res["info"][lib])
    return found
