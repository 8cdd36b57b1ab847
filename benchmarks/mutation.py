"""Mutation testing of the maths and training modules with mutmut, in a temporary copy of the tree.

A mutant is a copy of the code with one small deliberate bug (an operator flipped, a constant changed by
one, an argument dropped, a comparison swapped, ``+=`` turned into ``=`` ...). A mutant is *killed* when a
test fails on it; a *survivor* is a bug the tests would not notice, or an equivalent mutant (a change that
does not change behaviour). The kill rate is killed / all mutants, survivors and untested ones included.

What runs is configured in ``pyproject.toml`` under ``[tool.mutmut]``: the seven target modules, their fast
test files, and the one exclusion (the text of ``raise`` lines). mutmut first runs those tests once to
record which test executes which function; then, for each mutant, only the tests that reach the mutated
function run, in a forked process with a timeout. Each module is run as one bounded chunk, in order.

    python benchmarks/mutation.py                          # all seven modules, the current tests
    python benchmarks/mutation.py --tests-from main        # the same code against main's tests ("before")
    python benchmarks/mutation.py --modules metrics losses --max-children 1 --report out.md

Results and every survivor's diff are printed (and written with ``--report``/``--json``); explained
survivors are listed in ``benchmarks/mutation_survivors.md``. The full set is about 2,500 mutants; 1,054
of them (``--sample 60``) took about an hour with two at a time on a shared 2-core machine: not for CI.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULES = {  # short name -> the mutant-name pattern of that module (mutmut names mutants by module path)
    "activations": "nnscratch.activations.*",
    "losses": "nnscratch.losses.*",
    "network": "nnscratch.network.*",
    "engines": "nnscratch.training.engines.*",
    "optimizers": "nnscratch.training.optimizers.*",
    "trainer": "nnscratch.training.trainer.*",
    "metrics": "nnscratch.evaluation.metrics.*",
}
DETECTED = {"killed", "timeout", "segfault", "suspicious"}  # mutmut's statuses where a test noticed


def copy_tree(dest: Path, tests_from: str | None) -> None:
    """The tracked and untracked (not ignored) files of the working tree; tests/ from a revision if asked."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    if tests_from:
        shutil.rmtree(dest / "tests")
        archive = subprocess.run(
            ["git", "archive", tests_from, "tests"], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        config = dest / "pyproject.toml"  # leave out selected test files that revision does not have
        kept = [
            ln
            for ln in config.read_text().splitlines(keepends=True)
            if not (m := re.fullmatch(r'\s*"(tests/test_\w+\.py)",\s*', ln)) or (dest / m[1]).exists()
        ]
        config.write_text("".join(kept))
    # mutmut's change detection and a clean import path: its own git repository, no PYTHONPATH
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)


def mutmut(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CI", "MUTANT_UNDER_TEST")}
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"  # one BLAS thread per forked test process
    exe = Path(sys.executable).with_name("mutmut")
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, text=True, **kwargs)


def results(work: Path) -> dict[str, str]:
    out = mutmut(["results", "--all", "true"], work, check=True, capture_output=True).stdout
    return dict(re.findall(r"^\s+(\S+): (.+)$", out, flags=re.M))


def module_of(name: str) -> str:
    return next(short for short, pattern in MODULES.items() if name.startswith(pattern[:-1]))


def summarise(status: dict[str, str]) -> tuple[list[dict], dict]:
    rows = []
    for short in MODULES:
        mine = [s for n, s in status.items() if module_of(n) == short]
        if not mine:
            continue
        killed = sum(s in DETECTED for s in mine)
        rows.append(
            {
                "module": short,
                "mutants": len(mine),
                "killed": killed,
                "survived": mine.count("survived"),
                "no tests": mine.count("no tests"),
                "kill rate": killed / len(mine),
            }
        )
    total = sum(r["mutants"] for r in rows)
    killed = sum(r["killed"] for r in rows)
    return rows, {"mutants": total, "killed": killed, "kill rate": killed / max(total, 1)}


def sample(work: Path, args: argparse.Namespace) -> dict[str, list[str]]:
    """A seeded random sample of ``args.sample`` mutant names of each of ``args.sample_modules`` (the same
    sample for the same source and seed; mutants are generated first, by a run that matches none)."""
    names = results(work)
    if not names:
        mutmut(["run", "--max-children", "1", "no-such-mutant"], work, capture_output=True)
        names = results(work)
    rng = random.Random(args.seed)
    chosen = {}
    for short in [m for m in MODULES if m in args.modules and m in args.sample_modules]:
        mine = sorted(n for n in names if module_of(n) == short)
        if len(mine) > args.sample:
            chosen[short] = sorted(rng.sample(mine, args.sample))
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--modules", nargs="+", choices=list(MODULES), default=list(MODULES))
    parser.add_argument("--tests-from", metavar="REV", help="use tests/ as of this git revision")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested in parallel")
    parser.add_argument(
        "--workdir", type=Path, help="keep the copy here (reused: finished mutants are not rerun)"
    )
    parser.add_argument(
        "--sample",
        type=int,
        metavar="N",
        help="test a seeded random sample of N mutants of each larger module",
    )
    parser.add_argument("--seed", type=int, default=14, help="seed of --sample")
    parser.add_argument(
        "--sample-modules",
        nargs="+",
        choices=list(MODULES),
        default=["engines", "optimizers", "trainer"],
        help="the modules --sample applies to (the others are tested in full)",
    )
    parser.add_argument("--no-run", action="store_true", help="only report what --workdir already holds")
    parser.add_argument("--report", type=Path, help="write the summary and survivors' diffs (markdown)")
    parser.add_argument("--json", type=Path, help="write every mutant's status (JSON)")
    args = parser.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="nnscratch-mutation-"))
    if not (work / "pyproject.toml").exists():
        work.mkdir(parents=True, exist_ok=True)
        copy_tree(work, args.tests_from)
    start = time.perf_counter()
    chosen = sample(work, args) if args.sample else {}
    for short in [] if args.no_run else args.modules:  # one bounded chunk per module, results kept
        t0 = time.perf_counter()
        mutmut(
            ["run", "--max-children", str(args.max_children), *(chosen.get(short) or [MODULES[short]])],
            work,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        print(f"{short}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - start

    status = {n: s for n, s in results(work).items() if module_of(n) in args.modules}
    if chosen:  # the sampled modules: only their sample counts
        sampled = {n for names in chosen.values() for n in names}
        status = {n: s for n, s in status.items() if module_of(n) not in chosen or n in sampled}
    unchecked = [n for n, s in status.items() if s == "not checked"]  # an interrupted run
    status = {n: s for n, s in status.items() if s != "not checked"}
    rows, total = summarise(status)
    lines = [
        f"mutation run: {total['killed']} of {total['mutants']} mutants killed "
        f"({100 * total['kill rate']:.1f} %) in {elapsed / 60:.1f} min, {args.max_children} at a time"
        + (f", tests from {args.tests_from}" if args.tests_from else "")
        + (
            f"; a random sample (seed {args.seed}) of {args.sample} mutants of {', '.join(chosen)}"
            if chosen
            else ""
        ),
        "",
        "| module | mutants | killed | survived | no tests | kill rate |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['module']} | {r['mutants']} | {r['killed']} | {r['survived']} | {r['no tests']} "
        f"| {100 * r['kill rate']:.1f} % |"
        for r in rows
    ]
    if unchecked:
        lines += ["", f"({len(unchecked)} mutants not tested yet are left out.)"]
    survivors = sorted(n for n, s in status.items() if s not in DETECTED)
    lines += ["", f"## {len(survivors)} not killed", ""]
    for name in survivors:
        diff = mutmut(["show", name], work, capture_output=True).stdout
        changed = [ln for ln in diff.splitlines() if ln[:1] in "-+" and ln[:3] not in ("---", "+++")]
        lines += [f"* `{name}` ({status[name]})", "  ```diff", *(f"  {ln}" for ln in changed), "  ```"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.report:
        args.report.write_text(text)
    if args.json:
        args.json.write_text(
            json.dumps({"elapsed_s": elapsed, "total": total, "modules": rows, "status": status}, indent=1)
            + "\n"
        )
    print(f"work directory: {work}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
