"""Helpers for the web tests: a real ``nnscratch serve`` subprocess and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--metrics-recording-only",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SRC = Path(__file__).resolve().parents[1] / "src"


def need_chromium() -> None:
    """Skip (with the reason) when Debian's Chromium or Playwright for Python is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium); the browser tests need it")
    pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (test extra)")


class Server:
    """``python -m nnscratch serve`` on a free loopback port; ``url`` once it is listening."""

    def __init__(self, *args: str, data_home: Path | None = None) -> None:
        """``data_home`` becomes $XDG_DATA_HOME (default corrections and models folders) of the server."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
        if data_home is not None:
            env["XDG_DATA_HOME"] = str(data_home)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "nnscratch", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.url = ""
        threading.Thread(target=self._read, daemon=True).start()
        if not self._ready.wait(60) or not self.url:
            self.process.kill()
            raise RuntimeError("nnscratch serve did not start:\n" + "".join(self.lines))

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if found and not self.url:
                self.url = found.group(1)
                self._ready.set()
        self._ready.set()

    def stop(self) -> tuple[int, str]:
        """Ctrl-C (SIGINT), as a user would; the exit code and everything the server wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        time.sleep(0.1)
        return code, "".join(self.lines)


@contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()
