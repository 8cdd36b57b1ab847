"""Make docs/serve.png: the page of ``nnscratch serve`` after "Teach it", in Debian's Chromium.

A corrections folder gets 25 pictures per digit of the made-up handwriting of ``tests/handwriting.py``
(seed 7); a continental 1 is drawn with the mouse, corrected as a 1, and "Teach it" runs to the end.
The full-page screenshot is cropped and reduced to 128 colours.

    python docs/serve_screenshot.py [--data-dir ../shared/data/mnist] [--out docs/serve.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from handwriting import write_style_dir  # noqa: E402
from webhelpers import Server, chromium  # noqa: E402


def draw(page, strokes) -> None:
    box = page.locator("#draw").bounding_box()
    for stroke in strokes:
        points = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=6)
        page.mouse.up()


def main() -> int:
    from PIL import Image
    from playwright.sync_api import expect

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "serve.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        folder = write_style_dir(Path(work) / "corrections", 25, seed=7)
        server = Server(
            "--data-dir", str(args.data_dir), "--corrections-dir", str(folder), "--models-dir", f"{work}/m"
        )
        try:
            with chromium() as browser:
                page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
                page.goto(server.url)
                expect(page.locator("#model-info")).to_contain_text("784-128-64-10")
                draw(page, [[(0.3, 0.4), (0.58, 0.12), (0.58, 0.88)], [(0.42, 0.88), (0.74, 0.88)]])
                expect(page.locator("#prediction")).not_to_have_text("")
                page.click("#correct-1")
                expect(page.locator("#correction-status")).to_contain_text("Saved")
                page.click("#teach")
                expect(page.locator("#teach-result")).to_be_visible(timeout=120_000)
                page.wait_for_timeout(800)
                page.screenshot(path=f"{work}/full.png", full_page=True)
        finally:
            server.stop()
        full = Image.open(f"{work}/full.png").convert("RGB")
    height = min(full.height, 826)
    shot = full.crop((80, 0, 1200, height)).quantize(
        128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    shot.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
