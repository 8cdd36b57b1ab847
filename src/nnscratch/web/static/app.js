// nnscratch serve: the drawing page. Plain JavaScript, no build step, nothing loaded from elsewhere.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const canvas = $("draw");
  const ctx = canvas.getContext("2d");
  const SIZE = canvas.width;          // 280 canvas pixels; the server crops, fits in 20x20, centres
  const LINE_WIDTH = SIZE / 13;       // strokes about as thick, relative to the digit, as MNIST's
  const THROTTLE_MS = 120;            // at most one live prediction per 120 ms, one in flight
  const SENT = 140;                   // the drawing is sent as a 140x140 PNG (5x MNIST's 28): a quarter
                                      // of the pixels to preprocess, and still finer than the 20x20 box
  const sent = document.createElement("canvas");
  sent.width = sent.height = SENT;

  let mode = "empty";
  let lastFile = null;                // the photo shown, for a correction                 // "empty" | "draw" | "photo" | "test"
  let pointer = null;                 // the id of the pointer drawing now (one at a time)
  let last = null;
  let generation = 0;                 // answers to an older picture are dropped
  let inFlight = false, dirty = false, lastSent = 0, timer = null;

  // ---------------------------------------------------------------- canvas

  function blank() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, SIZE, SIZE);
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) / box.width) * SIZE,
      y: ((event.clientY - box.top) / box.height) * SIZE,
    };
  }

  function stroke(from, to) {
    ctx.strokeStyle = "#fff";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = LINE_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    if (from.x === to.x && from.y === to.y) {
      ctx.arc(to.x, to.y, LINE_WIDTH / 2, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.moveTo(from.x, from.y);
      ctx.lineTo(to.x, to.y);
      ctx.stroke();
    }
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (pointer !== null || event.button > 0) return;
    event.preventDefault();
    if (mode !== "draw") clearAll();
    mode = "draw";
    pointer = event.pointerId;
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    stroke(last, last);
    request(false);
  });

  canvas.addEventListener("pointermove", (event) => {
    if (event.pointerId !== pointer) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const p = point(e);
      stroke(last, p);
      last = p;
    }
    request(false);
  });

  function release(event) {
    if (event.pointerId !== pointer) return;
    pointer = null;
    request(true);
  }
  canvas.addEventListener("pointerup", release);
  canvas.addEventListener("pointercancel", release);
  canvas.addEventListener("keydown", (event) => {
    if (event.key === "Escape" || event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      clearAll();
    }
  });

  // ---------------------------------------------------------------- talking to the server

  function request(now) {
    dirty = true;
    pump(now);
  }

  function pump(now) {
    if (inFlight || !dirty || mode !== "draw") return;
    const wait = THROTTLE_MS - (performance.now() - lastSent);
    if (!now && wait > 0) {
      if (timer === null) timer = setTimeout(() => { timer = null; pump(false); }, wait);
      return;
    }
    dirty = false;
    inFlight = true;
    lastSent = performance.now();
    const mine = generation;
    drawingBlob((blob) => {
      const form = new FormData();
      form.append("image", blob, "drawing.png");
      post(form, mine).finally(() => { inFlight = false; pump(false); });
    });
  }

  function drawingBlob(done) {                 // the drawing as the server gets it: a 140x140 PNG
    const small = sent.getContext("2d");
    small.imageSmoothingEnabled = true;
    small.imageSmoothingQuality = "high";
    small.drawImage(canvas, 0, 0, SENT, SENT);
    sent.toBlob(done, "image/png");
  }

  async function post(form, mine, onAnswer) {
    try {
      const response = await fetch("/api/predict", { method: "POST", body: form });
      const data = await response.json();
      if (mine !== generation) return;
      if (!response.ok) { showError(data.detail || `error ${response.status}`); return; }
      show(data);
      if (onAnswer) onAnswer(data);
    } catch (err) {
      if (mine === generation) showError("the server did not answer; is `nnscratch serve` still running?");
    }
  }

  async function loadModel() {
    try {
      const info = await (await fetch("/api/model")).json();
      const acc = info.test_accuracy == null ? "test accuracy unknown"
        : `${(100 * info.test_accuracy).toFixed(2)} % on the MNIST test set`;
      const origin = info.default ? " (shipped with nnscratch)" : "";
      $("model-info").textContent =
        `Model ${info.name}${origin}: ${info.sizes.join("-")} ${info.activation} network, ${acc}.`;
    } catch (err) {
      $("model-info").textContent = "The model description could not be loaded.";
    }
  }

  // ---------------------------------------------------------------- showing the answer

  const bars = [];
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    li.innerHTML = `<span class="digit">${d}</span><span class="track"><span class="fill"></span></span>` +
      `<span class="pct"></span>`;
    $("probabilities").appendChild(li);
    bars.push(li);
  }

  function show(data) {
    $("error").textContent = "";
    $("prediction").textContent = String(data.digit);
    const p = data.probabilities;
    $("confidence").textContent = `${(100 * p[data.digit]).toFixed(1)} % sure`;
    bars.forEach((li, d) => {
      li.classList.toggle("top", d === data.digit);
      li.querySelector(".fill").style.width = `${(100 * p[d]).toFixed(1)}%`;
      li.querySelector(".pct").textContent = `${(100 * p[d]).toFixed(1)} %`;
      li.setAttribute("aria-label", `${d}: ${(100 * p[d]).toFixed(1)} percent`);
    });
    paintGrey($("seen"), data.input.flat(), 28, 28);
    paintSaliency($("why"), data.input.flat(), data.saliency.flat());
    latest = data;
    paintHidden(data.hidden);
  }

  function paintGrey(target, values, width, height, peak = 1) {
    target.width = width;
    target.height = height;
    const g = target.getContext("2d");
    const image = g.createImageData(width, height);
    values.forEach((v, i) => {
      const level = Math.round(255 * Math.min(1, Math.max(0, v / (peak || 1))));
      image.data.set([level, level, level, 255], 4 * i);
    });
    g.putImageData(image, 0, 0);
  }

  function paintSaliency(target, input, saliency) {
    const inkOnly = $("why-ink").checked;
    const small = document.createElement("canvas");
    small.width = small.height = 28;
    const g = small.getContext("2d");
    const image = g.createImageData(28, 28);
    saliency.forEach((s, i) => {
      const base = 110 * input[i];                  // the digit, in grey, under the colours
      const w = Math.min(1, Math.abs(inkOnly ? s * input[i] : s));
      const [r, gr, b] = s > 0 ? [220, 40, 30] : [30, 100, 230];
      image.data.set([base + w * (r - base), base + w * (gr - base), base + w * (b - base), 255], 4 * i);
    });
    g.putImageData(image, 0, 0);
    const big = target.getContext("2d");
    big.imageSmoothingEnabled = false;
    big.drawImage(small, 0, 0, target.width, target.height);
  }

  function paintHidden(layers) {
    const holder = $("hidden");
    layers.forEach((values, l) => {
      let fig = holder.children[l];
      if (!fig) {
        fig = document.createElement("figure");
        fig.innerHTML = `<canvas aria-label="activations of hidden layer ${l + 1}"></canvas>` +
          `<figcaption>Hidden layer ${l + 1}: ${values.length} units</figcaption>`;
        holder.appendChild(fig);
      }
      const cols = Math.ceil(Math.sqrt(values.length * 2) / 2) * 2;
      const rows = Math.ceil(values.length / cols);
      const padded = values.concat(new Array(rows * cols - values.length).fill(0));
      paintGrey(fig.querySelector("canvas"), padded, cols, rows, Math.max(1, ...values));
    });
  }

  let latest = null;
  $("why-ink").addEventListener("change", () => {
    if (latest) paintSaliency($("why"), latest.input.flat(), latest.saliency.flat());
  });

  function showError(text) { $("error").textContent = text; }

  function clearAll() {
    generation += 1;
    dirty = false;
    mode = "empty";
    blank();
    $("prediction").textContent = "";
    $("confidence").textContent = "";
    $("source").textContent = "";
    $("error").textContent = "";
    bars.forEach((li) => {
      li.classList.remove("top");
      li.querySelector(".fill").style.width = "0";
      li.querySelector(".pct").textContent = "";
    });
    for (const id of ["seen", "why"]) {
      const c = $(id);
      c.getContext("2d").clearRect(0, 0, c.width, c.height);
    }
    $("hidden").replaceChildren();
    latest = null;
  }

  // ---------------------------------------------------------------- buttons

  $("clear").addEventListener("click", () => { clearAll(); canvas.focus(); });

  $("test-digit").addEventListener("click", async () => {
    clearAll();
    const mine = generation;
    try {
      const response = await fetch("/api/test-digit");
      const data = await response.json();
      if (mine !== generation) return;
      if (!response.ok) { showError(data.detail); return; }
      mode = "test";
      const small = document.createElement("canvas");
      paintGrey(small, data.input.flat(), 28, 28);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(small, 0, 0, SIZE, SIZE);
      show(data);
      const verdict = data.digit === data.label ? "read correctly" : `misread as ${data.digit}`;
      $("source").textContent = `MNIST test image #${data.index}, true label ${data.label}: ${verdict}.`;
    } catch (err) {
      showError("the server did not answer");
    }
  });

  async function upload(input) {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    clearAll();
    mode = "photo";
    lastFile = file;
    const mine = generation;
    try {
      const bitmap = await createImageBitmap(file);
      const scale = Math.min(SIZE / bitmap.width, SIZE / bitmap.height);
      const w = bitmap.width * scale, h = bitmap.height * scale;
      ctx.drawImage(bitmap, (SIZE - w) / 2, (SIZE - h) / 2, w, h);
    } catch (err) { /* the browser cannot show it; the server will say why */ }
    $("source").textContent = `Photo: ${file.name}`;
    const form = new FormData();
    form.append("image", file, file.name);
    await post(form, mine);
  }
  $("upload").addEventListener("change", (event) => upload(event.target));
  $("camera").addEventListener("change", (event) => upload(event.target));

  // ---------------------------------------------------------------- for teach.js

  // What a correction saves: the picture on the canvas as the server gets it, or the photo shown.
  function picture() {
    if (mode === "photo") return Promise.resolve(lastFile);
    if (mode === "draw" || mode === "test") return new Promise((resolve) => drawingBlob(resolve));
    return Promise.resolve(null);
  }

  // After the model changed: describe it again and read the drawing again with it.
  function modelChanged() {
    loadModel();
    if (mode === "draw") request(true);
  }

  window.nnscratchPage = { picture, modelChanged };

  blank();
  loadModel();
})();
