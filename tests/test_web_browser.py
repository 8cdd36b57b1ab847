"""The page in a real browser: Debian's headless Chromium driven by Playwright, against ``nnscratch serve``.

Strokes are real input events (mouse, and touch through the DevTools protocol), so the page's Pointer
Events code, its canvas PNG, the server's preprocessing and the network all take part. Screenshots go
to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from webhelpers import ARTIFACTS, Server, chromium, need_chromium

pytestmark = pytest.mark.slow
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(mnist_path, tmp_path_factory):
    need_chromium()
    srv = Server("--data-dir", str(mnist_path), data_home=tmp_path_factory.mktemp("xdg-data"))
    yield srv
    code, log = srv.stop()
    assert code == 0, log
    assert "Traceback" not in log, log
    assert "stopped" in log


@pytest.fixture(scope="module")
def browser(server):
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, server):
    context = new_context(browser, viewport=DESKTOP, device_scale_factor=1)
    page = context.new_page()
    foreign: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(server.url) else foreign.append(r.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server.url)
    wait_for_model_info(page)
    yield page
    context.close()
    assert foreign == [], f"the page fetched something from elsewhere: {foreign}"
    assert errors == [], f"JavaScript errors: {errors}"


# The page's Content-Security-Policy forbids eval, so waits use locators (or Python-side polling),
# never page.wait_for_function with a string: Playwright evaluates those with eval while polling.
def wait_for_model_info(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#model-info")).to_contain_text("784-128-64-10", timeout=60_000)


def poll(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def new_context(browser, **options):
    context = browser.new_context(**options)
    context.set_default_timeout(60_000)  # the test machine is shared and sometimes very slow
    return context


def canvas_points(page, points):
    """Page coordinates of points given as fractions (0..1) of the drawing canvas."""
    box = page.locator("#draw").bounding_box()
    return [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]


def mouse_stroke(page, points, steps: int = 4) -> None:
    xy = canvas_points(page, points)
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()


def loop(cx: float, cy: float, rx: float, ry: float, n: int = 28):
    return [
        (cx + rx * math.sin(2 * math.pi * t / n), cy - ry * math.cos(2 * math.pi * t / n))
        for t in range(n + 2)
    ]


def expect_digit(page, digit: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#prediction")).to_have_text(digit, timeout=20_000)


def test_vertical_stroke_reads_one_then_clear_empties(page):
    from playwright.sync_api import expect

    expect(page.locator("#prediction")).to_have_text("")
    mouse_stroke(page, [(0.5, 0.15), (0.5, 0.85)], steps=12)
    expect_digit(page, "1")
    bars = page.locator("#probabilities li")
    assert bars.count() == 10
    assert "top" in (bars.nth(1).get_attribute("class") or "")
    page.click("#clear")
    expect(page.locator("#prediction")).to_have_text("")


def test_closed_loop_reads_zero_and_desktop_screenshot(page):
    from playwright.sync_api import expect

    mouse_stroke(page, loop(0.5, 0.5, 0.26, 0.36))
    expect_digit(page, "0")
    expect(page.locator("#hidden canvas")).to_have_count(2)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-desktop.png"), full_page=True)


def test_small_digit_in_a_corner_is_centred_and_read(page):
    mouse_stroke(page, loop(0.18, 0.2, 0.08, 0.12))  # a 0 a sixth of the canvas tall, top left
    expect_digit(page, "0")
    # what the network saw is centred: its ink's centre of mass is near pixel (14, 14)
    seen = page.evaluate(
        """() => { const c = document.getElementById('seen');
                   return Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data); }"""
    )
    grey = np.asarray(seen, dtype=float).reshape(28, 28, 4)[:, :, 0]
    rows, cols = np.indices(grey.shape)
    cy, cx = (grey * rows).sum() / grey.sum(), (grey * cols).sum() / grey.sum()
    assert abs(cy - 14) < 1.0 and abs(cx - 14) < 1.0, (cy, cx)


def test_upload_an_image_file(page, tmp_path, mnist_path):
    from PIL import Image

    from datahelpers import read_mnist

    images, labels = read_mnist(mnist_path, "t10k", 3)
    photo = Image.fromarray(255 - images[2]).resize((300, 300), Image.Resampling.BICUBIC)  # dark ink on paper
    path = tmp_path / "my-digit.png"
    photo.save(path)
    page.set_input_files("#upload", str(path))
    expect_digit(page, str(labels[2]))
    assert "my-digit.png" in page.locator("#source").text_content()


def test_show_me_a_test_digit(page):
    from playwright.sync_api import expect

    page.click("#test-digit")
    expect(page.locator("#source")).to_contain_text("true label", timeout=20_000)
    assert page.locator("#prediction").text_content() in list("0123456789")


def touch_stroke(page, cdp, points, steps: int = 6) -> None:
    xy = canvas_points(page, points)

    def send(kind, x=None, y=None):
        touch = [] if x is None else [{"x": x, "y": y, "id": 1, "radiusX": 4, "radiusY": 4, "force": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch})

    send("touchStart", *xy[0])
    for (x0, y0), (x1, y1) in zip(xy, xy[1:], strict=False):
        for s in range(1, steps + 1):
            send("touchMove", x0 + (x1 - x0) * s / steps, y0 + (y1 - y0) * s / steps)
    send("touchEnd")


def test_seven_drawn_with_touch_on_a_phone_does_not_scroll(browser, server):
    context = new_context(browser, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server.url)
    wait_for_model_info(page)
    assert page.evaluate("document.documentElement.scrollHeight") > PHONE["height"], (
        "the page must be scrollable"
    )
    page.evaluate("window.scrollTo(0, 40)")
    before = page.evaluate("window.scrollY")
    cdp = context.new_cdp_session(page)
    touch_stroke(page, cdp, [(0.2, 0.2), (0.8, 0.2), (0.4, 0.88)])  # a 7: the bar, then down-left
    expect_digit(page, "7")
    assert page.evaluate("window.scrollY") == before, "drawing scrolled the page"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "horizontal overflow"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "serve-phone.png"), full_page=True)
    context.close()


COUNT_PREDICT_REQUESTS = """
window.__inflight = 0; window.__maxInflight = 0; window.__predicts = 0;
const realFetch = window.fetch;
window.fetch = async (...args) => {
  const predict = String(args[0]).includes("/api/predict");
  if (predict) {
    window.__predicts += 1; window.__inflight += 1;
    window.__maxInflight = Math.max(window.__maxInflight, window.__inflight);
  }
  try { return await realFetch(...args); } finally { if (predict) window.__inflight -= 1; }
};
"""


def test_live_prediction_while_drawing_with_one_request_in_flight(browser, server):
    from playwright.sync_api import expect

    context = new_context(browser, viewport=DESKTOP)
    context.add_init_script(COUNT_PREDICT_REQUESTS)
    page = context.new_page()
    page.goto(server.url)
    xy = canvas_points(page, [(0.5, 0.1 + 0.8 * t / 40) for t in range(41)])
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=3)
        page.wait_for_timeout(25)
    expect(page.locator("#prediction")).not_to_have_text("", timeout=20_000)  # answered before release
    page.mouse.up()
    expect_digit(page, "1")
    poll(lambda: page.evaluate("window.__inflight") == 0)
    assert page.evaluate("window.__maxInflight") == 1
    assert page.evaluate("window.__predicts") >= 2
    context.close()


def test_keyboard_only(page):
    from playwright.sync_api import expect

    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "test-digit":
            break
    assert page.evaluate("document.activeElement.id") == "test-digit"
    page.keyboard.press("Enter")
    expect(page.locator("#source")).to_contain_text("true label", timeout=20_000)
    page.focus("#draw")
    page.keyboard.press("Escape")
    expect(page.locator("#prediction")).to_have_text("")
    page.focus("#upload")  # the photo input is hidden visually but still reachable with Tab
    assert page.evaluate("document.activeElement.id") == "upload"


def test_no_horizontal_overflow_on_a_360px_phone(browser, server):
    context = new_context(browser, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server.url)
    wait_for_model_info(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    box = page.locator("#draw").bounding_box()
    assert box["width"] >= 280 and box["x"] >= 0 and box["x"] + box["width"] <= 360
    context.close()


ASK_WHILE_TEACHING = """async () => {
  const canvas = document.getElementById("draw");
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  const status = () => document.getElementById("teach-status").textContent;
  let answered = 0, failed = 0;
  const deadline = performance.now() + 120000;
  while (!status().startsWith("Teaching") && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  while (status().startsWith("Teaching") && performance.now() < deadline) {
    const form = new FormData();
    form.append("image", blob, "d.png");
    const response = await fetch("/api/predict", { method: "POST", body: form });
    if (response.ok && status().startsWith("Teaching")) answered += 1;
    if (!response.ok) failed += 1;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { answered, failed };
}"""


def test_correct_then_teach_it_shows_new_figures_and_keeps_answering(browser, mnist_path, tmp_path):
    from PIL import Image
    from playwright.sync_api import expect

    from datahelpers import read_mnist

    corrections = tmp_path / "corrections"
    images, labels = read_mnist(mnist_path, "train", 300)  # someone's earlier corrections (MNIST-like)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        (corrections / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - image).save(corrections / str(label) / f"old-{i}.png")
    srv = Server(
        "--data-dir",
        str(mnist_path),
        "--corrections-dir",
        str(corrections),
        "--models-dir",
        str(tmp_path / "m"),
    )
    try:
        context = new_context(browser, viewport=DESKTOP)
        page = context.new_page()
        page.goto(srv.url)
        expect(page.locator("#correction-counts")).to_contain_text(
            str(int((labels == 1).sum())), timeout=20_000
        )
        mouse_stroke(page, [(0.5, 0.15), (0.5, 0.85)], steps=12)
        expect_digit(page, "1")
        before = int(page.locator("#correction-counts tr").nth(1).locator("td").nth(1).text_content())
        page.click("#correct-1")
        expect(page.locator("#correction-status")).to_contain_text("Saved as a 1", timeout=20_000)
        assert (
            int(page.locator("#correction-counts tr").nth(1).locator("td").nth(1).text_content())
            == before + 1
        )
        assert len(list((corrections / "1").glob("*.png"))) == before + 1
        page.click("#teach")
        meanwhile = page.evaluate(ASK_WHILE_TEACHING)
        expect(page.locator("#teach-result")).to_be_visible(timeout=120_000)
        status = page.locator("#teach-status").text_content()
        assert meanwhile["failed"] == 0 and meanwhile["answered"] >= 1, (meanwhile, status)
        assert page.locator("#mnist-before").text_content() == "97.96 %"
        assert page.locator("#mnist-after").text_content().endswith("%")
        assert page.locator("#user-before").text_content().endswith("%")  # 301 digits: some held out
        assert status.startswith("Learned in") or status.startswith("Not taken, nothing changed:"), status
        if status.startswith("Learned in"):
            assert "finetuned-" in status
            expect(page.locator("#model-info")).to_contain_text("finetuned-", timeout=20_000)
            page.click("#undo")
            expect(page.locator("#model-info")).to_contain_text("default.npz", timeout=20_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "serve-teach.png"), full_page=True)
        context.close()
    finally:
        code, log = srv.stop()
    assert code == 0 and "Traceback" not in log, log
