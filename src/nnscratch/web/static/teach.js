// nnscratch serve: "it was a ..." corrections, "Teach it" and "Undo" (issue 12). Plain JavaScript,
// no build step; uses window.nnscratchPage from app.js (loaded first).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const page = window.nnscratchPage;

  const countCells = [];
  const [digitRow, savedRow] = $("correction-counts").rows;
  for (let d = 0; d < 10; d++) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = `correct-${d}`;
    button.textContent = String(d);
    button.setAttribute("aria-label", `it was a ${d}`);
    button.addEventListener("click", () => correct(d));
    $("corrections").appendChild(button);
    digitRow.insertCell().textContent = String(d);
    countCells.push(savedRow.insertCell());
  }

  function showCounts(summary) {
    countCells.forEach((cell, d) => { cell.textContent = String(summary.counts[String(d)] || 0); });
    $("teach").disabled = running || summary.total === 0;
    total = summary.total;
  }

  async function correct(digit) {
    const image = await page.picture();
    if (!image) { $("correction-status").textContent = "Draw a digit (or pick a photo) first."; return; }
    const form = new FormData();
    form.append("image", image, "correction.png");
    form.append("label", String(digit));
    try {
      const response = await fetch("/api/corrections", { method: "POST", body: form });
      const data = await response.json();
      if (!response.ok) { $("correction-status").textContent = data.detail; return; }
      showCounts(data);
      $("correction-status").textContent =
        `Saved as a ${digit} (${data.total} correction${data.total === 1 ? "" : "s"} so far). Draw more, then "Teach it".`;
    } catch (err) {
      $("correction-status").textContent = "the server did not answer";
    }
  }

  let running = false, total = 0;

  function percent(value) { return value == null ? "–" : `${(100 * value).toFixed(2)} %`; }

  function showJob(job) {
    $("teach-progress").value = job.progress;
    if (job.status === "running") {
      $("teach-status").textContent = `Teaching… ${Math.round(100 * job.progress)} %`;
      return;
    }
    running = false;
    $("teach-progress").hidden = true;
    $("teach").disabled = total === 0;
    const r = job.result;
    if (r) {
      $("user-before").textContent = percent(r.user_holdout.before);
      $("user-after").textContent = percent(r.user_holdout.after);
      $("mnist-before").textContent = percent(r.mnist_test.before);
      $("mnist-after").textContent = percent(r.mnist_test.after);
      $("teach-result").hidden = false;
    }
    if (job.status === "done") {
      const name = job.saved.split(/[\\/]/).pop();
      $("teach-status").textContent = `Learned in ${job.seconds.toFixed(1)} s. Saved as ${name}; the page now uses it.`;
      $("teach-status").title = job.saved;
      page.modelChanged();
    } else {
      $("teach-status").textContent = job.status === "refused"
        ? `Not taken, nothing changed: ${job.error.replace(/^refused:\s*/, "")}`
        : `Failed: ${job.error}`;
    }
  }

  async function poll(id) {
    try {
      const response = await fetch(`/api/finetune/${id}`);
      const job = await response.json();
      if (!response.ok) { running = false; $("teach-status").textContent = job.detail; return; }
      showJob(job);
      if (job.status === "running") setTimeout(() => poll(id), 300);
    } catch (err) {
      running = false;
      $("teach-status").textContent = "the server did not answer";
    }
  }

  $("teach").addEventListener("click", async () => {
    $("teach").disabled = true;
    try {
      const response = await fetch("/api/finetune", { method: "POST" });
      const job = await response.json();
      if (!response.ok) { $("teach-status").textContent = job.detail; $("teach").disabled = false; return; }
      running = true;
      $("teach-result").hidden = true;
      $("teach-progress").hidden = false;
      showJob(job);
      poll(job.id);
    } catch (err) {
      $("teach").disabled = false;
      $("teach-status").textContent = "the server did not answer";
    }
  });

  $("undo").addEventListener("click", async () => {
    try {
      const info = await (await fetch("/api/model/revert", { method: "POST" })).json();
      $("teach-status").textContent = `Back to ${info.name}.`;
      page.modelChanged();
    } catch (err) {
      $("teach-status").textContent = "the server did not answer";
    }
  });

  async function loadCounts() {
    try { showCounts(await (await fetch("/api/corrections")).json()); } catch (err) { /* shown on use */ }
  }

  loadCounts();
})();
