// GET /: a page for people — pick a served model, set the solver, steps, guidance, seed and a class,
// a prompt or an observation, and see the images, the 2-D points or the policy's actions appear
// with their NFE and latency. Plain HTML and JavaScript shipped in the binary (no build step, no
// outside files); it talks to the same /v1 endpoints as any client. `/?generate=1` draws once on
// load (a link that shows something at once; the browser test uses it).
#include "rflow/serve/endpoint.h"

namespace rflow::serve {

namespace {

const char* kPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rflow serve</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 60rem; color: #222; }
fieldset { border: 1px solid #ccc; border-radius: 6px; display: flex; flex-wrap: wrap; gap: .8rem; align-items: end; }
label { display: flex; flex-direction: column; font-size: .85rem; gap: .2rem; }
input, select, button { font: inherit; padding: .25rem .4rem; }
input[type=number] { width: 6rem; } #prompt { width: 22rem; }
button { background: #2c5d8a; color: white; border: 0; border-radius: 4px; padding: .4rem 1rem; cursor: pointer; }
#status { margin: .8rem 0; min-height: 1.2rem; } .error { color: #b00020; }
#result img { image-rendering: pixelated; width: min(100%, 40rem); border: 1px solid #ddd; }
#result svg { border: 1px solid #ddd; background: #fafafa; }
table { border-collapse: collapse; font-size: .85rem; } td, th { border: 1px solid #ddd; padding: .2rem .5rem; }
.hidden { display: none; }
</style></head><body>
<h1>rflow serve</h1>
<fieldset>
<label>model <select id="model"></select></label>
<label>solver <select id="solver"><option>euler</option><option>heun</option><option>rk4</option><option>dopri5</option></select></label>
<label>steps <input id="steps" type="number" min="1" value="8"></label>
<label>samples <input id="n" type="number" min="1" value="16"></label>
<label>guidance <input id="guidance" type="number" min="0" step="0.5" value="1"></label>
<label>seed <input id="seed" type="number" min="0" value="0"></label>
<label id="label-box" class="hidden">class <input id="label" type="number" min="-1" value="0"></label>
<label id="prompt-box" class="hidden">prompt <input id="prompt" value=""></label>
<label id="obs-box" class="hidden">observation <input id="obs" value="0"></label>
<label>token <input id="token" type="password" placeholder="if the server has one"></label>
<button id="go">Generate</button>
</fieldset>
<p id="status"></p>
<div id="result"></div>
<script>
"use strict";
const $ = id => document.getElementById(id);
let models = [];
const current = () => models.find(m => m.name === $("model").value);
function headers() {
  const h = {"Content-Type": "application/json"};
  if ($("token").value) h["Authorization"] = "Bearer " + $("token").value;
  return h;
}
function show(kind, text) { $("status").className = kind; $("status").textContent = text; }
function choose() {
  const m = current(); if (!m) return;
  const c = m.conditioning;
  $("label-box").classList.toggle("hidden", !c.labels);
  $("prompt-box").classList.toggle("hidden", !c.prompt);
  $("obs-box").classList.toggle("hidden", !c.observation);
  $("steps").value = m.default_solver.steps; $("guidance").value = m.default_solver.guidance;
  if (c.prompt && !$("prompt").value) $("prompt").value = "a bag left of a sneaker";
  if (c.observation) $("obs").value = Array(c.observation).fill(0).join(" ");
}
function scatter(rows) {
  const xs = rows.map(r => r[0]), ys = rows.map(r => r[1]);
  const lo = Math.min(...xs, ...ys), hi = Math.max(...xs, ...ys), span = (hi - lo) || 1, size = 420;
  const at = v => 10 + (v - lo) / span * (size - 20);
  const dots = rows.map(r => `<circle cx="${at(r[0]).toFixed(1)}" cy="${(size - at(r[1])).toFixed(1)}" r="2.5" fill="#2c5d8a"/>`);
  return `<svg width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">${dots.join("")}</svg>`;
}
function table(rows) {
  return "<table><tr><th>#</th><th>action chunk</th></tr>" +
    rows.map((r, i) => `<tr><td>${i}</td><td>${r.map(v => v.toFixed(3)).join(" ")}</td></tr>`).join("") + "</table>";
}
async function generate() {
  const m = current(); if (!m) return;
  const body = {model: m.name, solver: $("solver").value, steps: +$("steps").value, seed: +$("seed").value,
                guidance: +$("guidance").value};
  const policy = m.kind === "policy", images = m.sample_shape.length === 3;
  if (policy) body.observations = [$("obs").value.trim().split(/[\s,]+/).map(Number)];
  else {
    body.n = +$("n").value; body.format = images ? "png" : "json";
    if (m.conditioning.labels) body.label = +$("label").value;
    if (m.conditioning.prompt) body.prompt = $("prompt").value;
  }
  show("", "drawing …");
  const t0 = performance.now();
  try {
    const res = await fetch(policy ? "/v1/policy/act" : "/v1/sample", {method: "POST", headers: headers(), body: JSON.stringify(body)});
    const ms = (performance.now() - t0).toFixed(0);
    if (!res.ok) { const e = (await res.json()).error; show("error", `${res.status}: ${e.message} (${e.where}) ${e.hint}`); return; }
    if (images) {
      const url = URL.createObjectURL(await res.blob());
      $("result").innerHTML = `<img id="image" alt="samples" src="${url}">`;
      show("", `${body.n} samples, NFE ${(+res.headers.get("X-Rflow-Nfe-Mean")).toFixed(1)} each, ${ms} ms`);
    } else {
      const j = await res.json();
      $("result").innerHTML = policy ? table(j.actions) : (m.sample_shape[0] === 2 ? scatter(j.samples) : table(j.samples));
      show("", `${policy ? "1 action" : j.n + " samples"}, NFE ${j.nfe_mean.toFixed(1)} each, ${ms} ms`);
    }
  } catch (err) { show("error", "the server did not answer: " + err); }
}
async function start() {
  try {
    const res = await fetch("/v1/models", {headers: headers()});
    if (!res.ok) { show("error", "cannot list the models (" + res.status + "): a token?"); return; }
    models = (await res.json()).models;
    $("model").innerHTML = models.map(m => `<option value="${m.name}">${m.name} (${m.kind})</option>`).join("");
    choose();
    if (new URLSearchParams(location.search).get("generate")) await generate();
  } catch (err) { show("error", "the server did not answer: " + err); }
}
$("model").addEventListener("change", choose);
$("go").addEventListener("click", generate);
$("token").addEventListener("change", start);
start();
</script></body></html>
)html";

Response page(const Request&, ServeContext&) { return {200, kPage, "text/html; charset=utf-8"}; }

}  // namespace

EndpointEntry page_endpoint() { return {"GET", page, /*open=*/true}; }

}  // namespace rflow::serve
