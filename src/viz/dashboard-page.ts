/**
 * The HTML of the live training dashboard (served by `viz/dashboard.ts`): one self-contained page
 * with inline style and script — the machine may have no network, so nothing comes from a CDN.
 * The script listens to `/events` (Server-Sent Events); each event carries the state and the figure
 * (drawn by `curvesSvg`, so the page and curves.png look the same), which replaces the shown one
 * when it changed — no second request, so the final state is complete even if the server stops
 * right after sending it.
 */

/**
 * The dashboard page; `titleHtml` must already be HTML-escaped.
 * @example res.end(dashboardPage(escapeXml('LeNet')));
 */
export function dashboardPage(titleHtml: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${titleHtml}</title>
<style>
  body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px; color: #222; background: #fafafa; }
  h1 { font-size: 20px; margin: 0 0 12px; }
  /* Six equal cards spanning the width of the figure below. */
  .stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(110px, 1fr)); gap: 8px; width: 762px; max-width: 100%; margin-bottom: 10px; }
  .stat { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; }
  .stat .k { font-size: 11px; color: #666; text-transform: uppercase; letter-spacing: .04em; }
  .stat .v { font-size: 18px; font-variant-numeric: tabular-nums; margin-top: 2px; }
  #bar { height: 8px; background: #e6e6e6; border-radius: 4px; overflow: hidden; width: 760px; max-width: 100%; margin-bottom: 14px; }
  /* No width transition: a finished run must show a full bar at once. */
  #fill { height: 100%; width: 0; background: #1f77b4; }
  #curves { background: #fff; border: 1px solid #ddd; border-radius: 6px; display: inline-block; }
  #curves svg { display: block; max-width: 100%; height: auto; }
  #conn.live { color: #2ca02c; } #conn.down { color: #d62728; }
  table { border-collapse: collapse; margin-top: 14px; font-size: 13px; font-variant-numeric: tabular-nums; background: #fff; }
  th, td { border: 1px solid #ddd; padding: 3px 10px; text-align: right; }
  th { background: #f0f0f0; }
</style>
</head>
<body>
<h1>${titleHtml}</h1>
<div class="stats">
  <div class="stat"><div class="k">epoch</div><div class="v" id="epoch">–</div></div>
  <div class="stat"><div class="k">batch</div><div class="v" id="batch">–</div></div>
  <div class="stat"><div class="k">loss</div><div class="v" id="loss">–</div></div>
  <div class="stat"><div class="k">images/s</div><div class="v" id="speed">–</div></div>
  <div class="stat"><div class="k">last val acc</div><div class="v" id="valacc">–</div></div>
  <div class="stat"><div class="k">connection</div><div class="v" id="conn">connecting…</div></div>
</div>
<div id="bar"><div id="fill"></div></div>
<div id="curves"></div>
<table id="records"><thead><tr><th>epoch</th><th>train loss</th><th>val loss</th><th>val acc</th><th>images/s</th><th>seconds</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
// NaN arrives as null (JSON); show a dash for anything that is not a finite number.
const fmt = (v, d) => (typeof v === "number" && isFinite(v) ? v.toFixed(d) : "–");
let shownRecords = null;
let shownSvg = null;
// True once the last planned epoch is in: the stream ending then means the run finished.
let finished = false;

function drawTable(records) {
  const body = $("records").tBodies[0];
  body.textContent = "";
  for (const r of records) {
    const tr = document.createElement("tr");
    for (const [v, d] of [[r.epoch, 0], [r.trainLoss, 4], [r.valLoss, 4], [r.valAcc, 4], [r.imagesPerSec, 0], [r.seconds, 1]]) {
      const td = document.createElement("td");
      td.textContent = fmt(v, d);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function render(s) {
  const recs = s.records || [];
  const last = recs.length ? recs[recs.length - 1] : null;
  const p = s.progress;
  const of = s.maxEpochs ? "/" + s.maxEpochs : "";
  if (p) {
    $("epoch").textContent = p.epoch + of;
    $("batch").textContent = p.batch + (p.numBatches ? "/" + p.numBatches : "");
    $("loss").textContent = fmt(p.loss, 4);
    $("speed").textContent = fmt(p.imagesPerSec, 0);
    $("fill").style.width = p.numBatches ? Math.min(100, (100 * p.batch) / p.numBatches) + "%" : "0";
  } else if (last) {
    $("epoch").textContent = last.epoch + of + " done";
    $("batch").textContent = "–";
    // Between epochs the loss card shows the finished epoch's mean training loss.
    $("loss").textContent = fmt(last.trainLoss, 4);
    $("speed").textContent = fmt(last.imagesPerSec, 0);
    $("fill").style.width = "100%";
  }
  $("valacc").textContent = last ? fmt(last.valAcc, 4) : "–";
  finished = !p && !!last && !!s.maxEpochs && last.epoch >= s.maxEpochs;
  // The table changes once per epoch; the figure whenever a point was added.
  const key = JSON.stringify(recs.map((r) => [r.epoch, r.trainLoss, r.valLoss, r.valAcc]));
  if (key !== shownRecords) {
    shownRecords = key;
    drawTable(recs);
  }
  if (s.svg && s.svg !== shownSvg) {
    shownSvg = s.svg;
    $("curves").innerHTML = s.svg;
  }
}

const es = new EventSource("events");
es.onopen = () => { $("conn").textContent = "live"; $("conn").className = "v live"; };
es.onerror = () => {
  $("conn").textContent = finished ? "finished" : "disconnected";
  $("conn").className = finished ? "v" : "v down";
};
es.onmessage = (e) => render(JSON.parse(e.data));
</script>
</body>
</html>
`;
}
