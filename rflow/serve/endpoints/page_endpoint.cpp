// GET /: a page for people — pick a served model, set the solver, steps, guidance, seed and a class,
// a prompt or an observation, and see the images, the 2-D points or the policy's actions appear
// with their NFE and latency; evaluate a policy on its task and watch a maze policy walk. Plain
// HTML and JavaScript shipped in the binary (no build step, no outside files); it talks to the
// same /v1 endpoints as any client. `/?generate=1` draws once on load (a link that shows something
// at once; the browser test uses it); `/?model=NAME&evaluate=1` evaluates that policy on load,
// `&chat=1` plays the conversation box with a text-to-image model.
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
#result img.turn { width: auto; height: 84px; }
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
<label id="episodes-box" class="hidden">episodes <input id="episodes" type="number" min="1" value="16"></label>
<button id="go">Generate</button>
<button id="evaluate" class="hidden">Evaluate</button>
<label id="chat-box" class="hidden">conversation, one message per line
<textarea id="messages" rows="4" cols="48">a bag left of a sneaker
make the left one a sandal
swap them</textarea></label>
<button id="chat" class="hidden">Chat</button>
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
// The answer to a POST, or null once its error is shown.
async function post(path, body) {
  const res = await fetch(path, {method: "POST", headers: headers(), body: JSON.stringify(body)});
  if (res.ok) return res;
  const e = (await res.json()).error;
  show("error", `${res.status}: ${e.message} (${e.where}) ${e.hint}`);
  return null;
}
function choose() {
  const m = current(); if (!m) return;
  const c = m.conditioning;
  $("label-box").classList.toggle("hidden", !c.labels);
  $("prompt-box").classList.toggle("hidden", !c.prompt);
  $("obs-box").classList.toggle("hidden", !c.observation);
  $("episodes-box").classList.toggle("hidden", !m.task);
  $("evaluate").classList.toggle("hidden", !m.task);
  $("evaluate").textContent = m.task === "maze" ? "Walk the maze" : "Evaluate";
  $("chat-box").classList.toggle("hidden", m.kind !== "composites");
  $("chat").classList.toggle("hidden", m.kind !== "composites");
  // The model's own solver (adaflow for a policy with a variance head) is offered and chosen.
  const solver = m.default_solver.solver;
  if (![...$("solver").options].some(o => o.value === solver)) $("solver").add(new Option(solver, solver));
  $("solver").value = solver;
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
    const res = await post(policy ? "/v1/policy/act" : "/v1/sample", body);
    const ms = (performance.now() - t0).toFixed(0);
    if (!res) return;
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
function summary(obj) {
  return "<table>" + Object.entries(obj).map(([k, v]) =>
    `<tr><th>${k}</th><td>${typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : v}</td></tr>`).join("") + "</table>";
}
// The maze and every episode's agent, one move per tick, each leaving its trail.
function walk(replay, done) {
  const rows = replay.rows, paths = replay.paths, cell = 32, w = rows[0].length * cell, h = rows.length * cell;
  const colour = i => `hsl(${(i * 137.5) % 360} 65% 45%)`;
  const centre = c => [(c[0] + .5) * cell, (c[1] + .5) * cell];
  let tiles = "";
  rows.forEach((r, y) => [...r].forEach((ch, x) => {
    const fill = ch === "#" ? "#333" : ch === "S" ? "#cfe3f5" : ch === "G" ? "#cdeccf" : "#fff";
    tiles += `<rect x="${x * cell}" y="${y * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"/>`;
    if (ch === "S" || ch === "G") tiles += `<text x="${(x + .5) * cell}" y="${(y + .62) * cell}" text-anchor="middle" font-size="14">${ch}</text>`;
  }));
  const agents = paths.map((p, i) => `<polyline id="trail${i}" fill="none" stroke="${colour(i)}" stroke-width="2" opacity=".6"/>` +
    `<circle id="agent${i}" class="agent" r="${cell / 5}" fill="${colour(i)}"/>`).join("");
  $("result").innerHTML = `<svg id="maze" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">${tiles}${agents}</svg>`;
  const longest = Math.max(...paths.map(p => p.length));
  let tick = 0;
  const step = () => {
    paths.forEach((p, i) => {
      const upto = p.slice(0, Math.min(tick + 1, p.length)).map(centre), [x, y] = upto[upto.length - 1];
      // Agents on one cell fan out a little so each stays visible.
      const dx = ((i % 4) - 1.5) * 3, dy = (Math.floor(i / 4) % 4 - 1.5) * 3;
      $("agent" + i).setAttribute("cx", (x + dx).toFixed(1)); $("agent" + i).setAttribute("cy", (y + dy).toFixed(1));
      $("trail" + i).setAttribute("points", upto.map(q => q.map(v => v.toFixed(1)).join(",")).join(" "));
    });
    if (++tick < longest) setTimeout(step, 150); else done();
  };
  step();
}
async function evaluate() {
  const m = current(); if (!m) return;
  const body = {model: m.name, solver: $("solver").value, steps: +$("steps").value, seed: +$("seed").value,
                episodes: +$("episodes").value};
  show("", "evaluating …");
  const t0 = performance.now();
  try {
    const res = await post("/v1/policy/evaluate", body);
    const ms = (performance.now() - t0).toFixed(0);
    if (!res) return;
    const j = await res.json(), s = j.summary;
    const told = s.success_rate !== undefined
      ? `${s.episodes} episodes: ${(100 * s.success_rate).toFixed(0)}% reached the goal by ${s.distinct_routes} route(s), NFE ${s.nfe_per_chunk.toFixed(1)} per chunk, ${ms} ms`
      : `${j.task}: evaluated in ${ms} ms`;
    if (j.replay) { show("", "walking …"); walk(j.replay, () => { show("", told); $("result").insertAdjacentHTML("beforeend", summary(s)); }); }
    else { $("result").innerHTML = (j.svg || "") + summary(s); show("", told); }
  } catch (err) { show("error", "the server did not answer: " + err); }
}
// The whole conversation goes each time (the server keeps none); every turn comes back.
async function chat() {
  const m = current(); if (!m) return;
  const messages = $("messages").value.split("\n").map(s => s.trim()).filter(s => s);
  const body = {model: m.name, messages, solver: $("solver").value, steps: +$("steps").value, seed: +$("seed").value,
                guidance: +$("guidance").value};
  show("", "drawing …");
  const t0 = performance.now();
  try {
    const res = await post("/v1/chat", body);
    const ms = (performance.now() - t0).toFixed(0);
    if (!res) return;
    const j = await res.json();
    const esc = t => t.replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})[c]);
    $("result").innerHTML = "<table><tr><th>you</th><th>rflow</th><th>picture</th></tr>" + j.turns.map(t =>
      `<tr><td>${esc(t.message)}</td><td>${esc(t.reply)}</td><td>${t.image_png ? `<img class="turn" alt="${esc(t.prompt)}" src="data:image/png;base64,${t.image_png}">` : ""}</td></tr>`).join("") + "</table>";
    show("", `${j.turns.length} turns, ${ms} ms`);
  } catch (err) { show("error", "the server did not answer: " + err); }
}
async function start() {
  try {
    const res = await fetch("/v1/models", {headers: headers()});
    if (!res.ok) { show("error", "cannot list the models (" + res.status + "): a token?"); return; }
    models = (await res.json()).models;
    $("model").innerHTML = models.map(m => `<option value="${m.name}">${m.name} (${m.kind})</option>`).join("");
    const q = new URLSearchParams(location.search);
    if (q.get("model") && models.some(m => m.name === q.get("model"))) $("model").value = q.get("model");
    choose();
    if (q.get("generate")) await generate();
    if (q.get("evaluate")) await evaluate();
    if (q.get("chat")) await chat();
  } catch (err) { show("error", "the server did not answer: " + err); }
}
$("model").addEventListener("change", choose);
$("go").addEventListener("click", generate);
$("evaluate").addEventListener("click", evaluate);
$("chat").addEventListener("click", chat);
$("token").addEventListener("change", start);
start();
</script></body></html>
)html";

Response page(const Request&, ServeContext&) { return {200, kPage, "text/html; charset=utf-8"}; }

}  // namespace

EndpointEntry page_endpoint() { return {"GET", page, /*open=*/true}; }

}  // namespace rflow::serve
