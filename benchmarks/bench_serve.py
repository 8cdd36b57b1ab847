"""Loopback load test of ``nnscratch serve``: predictions per second and p50/p99 latency, 1 and 8 clients.

Starts ``python -m nnscratch serve --port 0`` (the shipped model) as a child process with one BLAS
thread, then, for each number of concurrent clients, sends ``POST /api/predict`` requests over keep-alive
HTTP/1.1 connections (one per client thread) for at most ``--requests`` requests or ``--seconds``
seconds, whichever comes first, after a short warm-up. The request body is what the page sends: the
drawing as a 140×140 PNG in a multipart form (``--payload json`` sends 784 pixels as JSON instead).
Every answer must be a 200 with a digit; anything else counts as an error. Issue 11's target: p99 ≤ 25 ms
at 8 clients, zero errors.

``--during-finetune`` (issue 12) also measures each level while "Teach it" runs: the server gets a
corrections folder of ``--corrections`` MNIST training digits, and fine-tunes are started back to back
(``POST /api/finetune``, polled until done) for the whole level; only requests that started and ended
while a fine-tune was running are counted in that row.

    python benchmarks/bench_serve.py [--clients 1,8] [--requests 2000] [--seconds 20] [--payload png]
                                     [--during-finetune] [--data-dir DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import multiprocessing
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = Path(os.environ.get("NNSCRATCH_DATA") or REPO.parent / "shared" / "data" / "mnist")


def canvas_png() -> bytes:
    """A 7 drawn like the page draws it (white strokes on a black 280×280 canvas), sent as the page
    sends it: scaled down to 140×140."""
    from PIL import Image, ImageDraw

    im = Image.new("L", (280, 280))
    ImageDraw.Draw(im).line([(60, 60), (220, 60), (110, 240)], fill=255, width=22, joint="curve")
    buffer = io.BytesIO()
    im.resize((140, 140), Image.Resampling.BILINEAR, reducing_gap=2.0).save(buffer, "PNG")
    return buffer.getvalue()


def request_body(kind: str) -> tuple[bytes, str]:
    if kind == "json":
        pixels = [0.0] * 784
        for r in range(4, 24):
            pixels[r * 28 + 14] = 1.0
        return json.dumps({"pixels": pixels}).encode(), "application/json"
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="drawing.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    body += canvas_png() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def start_server(threads: int, *extra: str) -> tuple[subprocess.Popen, str, int]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnscratch", "serve", "--port", "0", *extra],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"http://(127\.0\.0\.1):(\d+)/", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
            return proc, found.group(1), int(found.group(2))
        if proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit("nnscratch serve did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ask(conn: http.client.HTTPConnection, body: bytes, ctype: str) -> bool:
    """One prediction request; True when it was answered with a digit."""
    conn.request("POST", "/api/predict", body=body, headers={"Content-Type": ctype})
    response = conn.getresponse()
    data = response.read()
    return response.status == 200 and b'"digit"' in data


def client_process(
    address: tuple[str, int], body: bytes, ctype: str, budget: int, stop_at: float, out
) -> None:
    """One client in its own process (like a browser tab): ``budget`` requests or until ``stop_at``
    (a time.perf_counter value: CLOCK_MONOTONIC, the same in every process on Linux)."""
    conn = http.client.HTTPConnection(*address, timeout=30)
    timed = []
    while budget > 0 and time.perf_counter() < stop_at:
        budget -= 1
        start = time.perf_counter()
        try:
            ok = ask(conn, body, ctype)
        except (OSError, http.client.HTTPException):
            ok = False
            conn.close()
            conn = http.client.HTTPConnection(*address, timeout=30)
        timed.append((start, time.perf_counter(), ok))
    conn.close()
    out.put(timed)


class Load:
    """``clients`` concurrent clients, each its own process with one keep-alive connection, sending
    requests until ``budget`` requests are done or ``seconds`` pass."""

    def __init__(self, host: str, port: int, body: bytes, ctype: str) -> None:
        self.host, self.port, self.body, self.ctype = host, port, body, ctype

    def run(
        self, clients: int, budget: int, seconds: float, busy: list[tuple[float, float]] | None = None
    ) -> dict:
        """Measure; with ``busy`` (a list of (start, end) times that fills while this runs), count only
        requests that lie wholly inside one of those intervals."""
        context = multiprocessing.get_context("fork")
        out = context.Queue()
        stop_at = time.perf_counter() + seconds
        share = -(-budget // clients)
        workers = [
            context.Process(
                target=client_process,
                args=((self.host, self.port), self.body, self.ctype, share, stop_at, out),
            )
            for _ in range(clients)
        ]
        began = time.perf_counter()
        for w in workers:
            w.start()
        timed: list[tuple[float, float, bool]] = [t for _ in workers for t in out.get()]
        for w in workers:
            w.join()
        wall = max((end for _, end, _ in timed), default=began) - began
        if busy is not None:
            timed = [t for t in timed if any(a <= t[0] and t[1] <= b for a, b in busy)]
            wall = sum(min(b, began + wall) - max(a, began) for a, b in busy if b > began)
        ordered = sorted(end - start for start, end, _ in timed) or [float("nan")]
        return {
            "clients": clients,
            "requests": len(timed),
            "errors": sum(not ok for _, _, ok in timed),
            "seconds": wall,
            "per_second": len(timed) / wall if wall > 0 else float("nan"),
            "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        }


def corrections_folder(root: Path, data_dir: Path, n: int) -> Path:
    """``root/corrections/<digit>/`` with the first ``n`` MNIST training digits as dark-on-light PNGs."""
    import gzip

    from PIL import Image

    with gzip.open(data_dir / "train-images-idx3-ubyte.gz") as fh:
        images = np.frombuffer(fh.read(16 + n * 784), np.uint8, offset=16).reshape(n, 28, 28)
    with gzip.open(data_dir / "train-labels-idx1-ubyte.gz") as fh:
        labels = np.frombuffer(fh.read(8 + n), np.uint8, offset=8)
    folder = root / "corrections"
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - image).save(folder / str(label) / f"{i}.png")
    return folder


class Teacher:
    """Starts fine-tunes back to back until stopped; ``busy`` holds each one's (start, end) times."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.busy: list[tuple[float, float]] = []
        self.statuses: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _call(self, conn: http.client.HTTPConnection, method: str, path: str) -> tuple[int, dict]:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")

    def _loop(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        while not self.stop.is_set():
            status, job = self._call(conn, "POST", "/api/finetune")
            if status != 202:
                raise SystemExit(f"POST /api/finetune answered {status}: {job}")
            start = time.perf_counter()
            while job.get("status", "running") == "running":
                time.sleep(0.02)
                _, job = self._call(conn, "GET", f"/api/finetune/{job['id']}")
            self.busy.append((start, time.perf_counter()))
            self.statuses.append(job["status"])
        conn.close()


def _ms(value: float) -> str:
    return "–" if value != value else f"{value:.2f}"  # NaN: not measured


def table(rows: list[dict], label: str) -> str:
    """One line per (case, clients): medians over the rounds, with the range of p99 over the rounds."""
    lines = [
        f"| {label} | clients | rounds | requests | errors | predictions/s | p50 (ms) | p99 (ms) "
        "| p99 range (ms) | server CPU/request (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["case"], r["clients"]), []).append(r)
    for (case, clients), group in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0] != "idle")):
        p99s = [r["p99_ms"] for r in group]

        def med(key: str, group=group) -> float:
            return statistics.median(r[key] for r in group)

        lines.append(
            f"| {case} | {clients} | {len(group)} | {sum(r['requests'] for r in group)} "
            f"| {sum(r['errors'] for r in group)} | {med('per_second'):.0f} | {med('p50_ms'):.1f} "
            f"| {med('p99_ms'):.1f} | {min(p99s):.0f}–{max(p99s):.0f} | {_ms(med('server_cpu_ms'))} |"
        )
    return "\n".join(lines)


def measure(args: argparse.Namespace, body: bytes, ctype: str, work: Path) -> tuple[list[dict], list[str]]:
    extra: list[str] = []
    if args.during_finetune:
        folder = corrections_folder(work, args.data_dir, args.corrections)
        extra = ["--data-dir", str(args.data_dir), "--corrections-dir", str(folder)]
        extra += ["--models-dir", str(work / "models")]
    proc, host, port = start_server(args.threads, *extra)
    rows, statuses = [], []
    try:
        load = Load(host, port, body, ctype)
        load.run(2, 50, 10.0)  # warm-up
        for round_ in range(1, args.rounds + 1):  # interleaved, so a change in the machine's load hits all
            for clients in (int(c) for c in args.clients.split(",")):
                cpu = cpu_seconds(proc.pid)
                row = {"case": "idle", "round": round_, **load.run(clients, args.requests, args.seconds)}
                row["server_cpu_ms"] = 1000 * (cpu_seconds(proc.pid) - cpu) / max(row["requests"], 1)
                rows.append(row)
                if args.during_finetune:
                    teacher = Teacher(host, port)
                    teacher.thread.start()
                    row = {
                        "case": "during fine-tune",
                        "round": round_,
                        **load.run(clients, args.requests, args.seconds, teacher.busy),
                    }
                    teacher.stop.set()
                    teacher.thread.join()
                    row["server_cpu_ms"] = float("nan")
                    rows.append(row)
                    statuses += teacher.statuses
    finally:
        proc.terminate()
        proc.wait(20)
    return rows, statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,8", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--requests", type=int, default=2000, help="at most this many requests per level")
    parser.add_argument("--seconds", type=float, default=20.0, help="at most this long per level")
    parser.add_argument("--payload", choices=["png", "json"], default="png")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads of the server")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the table shows medians")
    parser.add_argument("--during-finetune", action="store_true", help="also measure while fine-tuning")
    parser.add_argument("--corrections", type=int, default=300, help="corrections to fine-tune on")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the MNIST files (replay)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    body, ctype = request_body(args.payload)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as work:
        rows, statuses = measure(args, body, ctype, Path(work))
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, server BLAS threads "
        f"{args.threads}, payload {args.payload} ({len(body)} bytes), Python {platform.python_version()}, "
        f"load average before/after {load_before:.1f}/{os.getloadavg()[0]:.1f} (other work on the machine)"
    )
    if statuses:
        print(f"fine-tunes run during the measurement: {len(statuses)} ({', '.join(sorted(set(statuses)))})")
    print(table(rows, "case"))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"rows": rows, "payload": args.payload, "threads": args.threads, "finetunes": statuses}
        args.json.write_text(json.dumps(record, indent=2))
    return 1 if any(r["errors"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
