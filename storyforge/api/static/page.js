// The storyforge studio (index.html): served from /static under a strict CSP (no inline script, no CDN, works
// offline). Every request carries the API key from the field at the top (kept in localStorage); media and
// downloads are fetched with it and shown through blob: URLs. The job being looked at is in the URL (?job=id).
"use strict";
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("aria")) node.setAttribute(`aria-${key.slice(4).toLowerCase()}`, value);
    else node[key] = value;
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
};
const SHOT_TYPES = ["establishing", "wide", "medium", "close_up", "over_the_shoulder", "insert"];
const TRANSITIONS = ["cut", "crossfade", "fade_black"];
const PLAIN = {  // HTTP errors in plain words (a 404, 409 or 422 says itself what is missing or wrong)
  401: "The API key is missing or wrong. Enter the key your server's operator gave you, at the top of the page.",
  413: "The story is too long for this server.",
  429: "Too many requests or videos at once; wait a little and try again.",
  503: "The server cannot take this right now (disk full or busy); try again in a few minutes.",
};

$("key").value = localStorage.getItem("storyforge-key") || "";
$("key").addEventListener("change", () => { localStorage.setItem("storyforge-key", $("key").value); route(); });

class ApiError extends Error {
  constructor(status, detail) {
    const text = typeof detail === "string" ? detail
      : Array.isArray(detail) ? detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ") : "";
    super(PLAIN[status] ? `${PLAIN[status]}${text && status !== 401 ? ` (${text})` : ""}` : text || `HTTP ${status}`);
    this.status = status;
  }
}
async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { "X-API-Key": $("key").value, ...(options.headers || {}) } });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new ApiError(response.status, body.detail);
  }
  return response;
}
const getJson = async (path) => (await api(path)).json();
const blobs = new Map();  // url -> blob: URL, so a picture is fetched once
async function blobUrl(path, fresh = false) {
  if (!fresh && blobs.has(path)) return blobs.get(path);
  const url = URL.createObjectURL(await (await api(path)).blob());
  blobs.set(path, url);
  return url;
}
function notice(message) { $("notice").textContent = message || ""; $("notice").hidden = !message; }
function say(id, text) { if ($(id).textContent !== text) $(id).textContent = text; }  // live regions speak changes only
const shotId = (s) => `s${String(s.scene_index).padStart(2, "0")}_${String(s.index).padStart(2, "0")}`;
const when = (iso) => new Date(iso).toLocaleString();
const length = (s) => (s == null ? "" : `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, "0")}`);

// ---- routing: the job id lives in the URL, so a reload or a shared link opens the same job ----
let current = null;  // {id, nav, job, shots, cast, starts, ...}
let nav = 0;  // bumped on every navigation: replies for an earlier page are dropped
let polling = null;
const stale = (token) => token !== nav;
function open(id, push = true) {
  if (pendingEdits() && !confirm("Leave this video? Your edits have not been rendered.")) return;
  if (push) history.pushState({ job: id }, "", id ? `/?job=${id}` : "/");
  route();
}
window.addEventListener("popstate", route);
window.addEventListener("beforeunload", (e) => { if (pendingEdits()) e.preventDefault(); });
$("home").addEventListener("click", (e) => { e.preventDefault(); open(null); });
$("back").addEventListener("click", (e) => { e.preventDefault(); open(null); });
function stopMedia() {
  for (const video of document.querySelectorAll("video")) {
    video.pause();
    if (video.src) { blobs.forEach((u, k) => { if (u === video.src) { URL.revokeObjectURL(u); blobs.delete(k); } }); }
    video.removeAttribute("src"); video.replaceChildren(); video.load();
  }
}
function route() {
  nav += 1;
  clearTimeout(polling);
  notice("");
  stopMedia();
  const id = new URLSearchParams(location.search).get("job");
  $("home-view").hidden = !!id;
  $("job-view").hidden = !id;
  if (id && !/^[0-9a-f]{16}$/.test(id)) { current = null; $("job-view").hidden = true; $("home-view").hidden = false;
    notice(`"${id}" is not a video id.`); listJobs(); return; }
  if (id) showJob(id, nav); else { current = null; listJobs(); }
}

// ---- the list of this key's videos ----
async function listJobs(token = nav) {
  if (!$("key").value) { notice(PLAIN[401]); return; }
  let page;
  try { page = await getJson("/v1/jobs?per_page=50"); } catch (err) { if (!stale(token)) notice(err.message); return; }
  if (stale(token)) return;
  const list = $("jobs");
  list.replaceChildren();
  $("jobs-empty").hidden = page.jobs.length > 0;
  for (const job of page.jobs) {
    const img = el("img", { alt: "", width: 128, height: 72 });
    if (job.thumbnail) blobUrl(job.thumbnail).then((u) => { img.src = u; }).catch(() => {});
    const link = el("a", { href: `/?job=${job.id}` }, job.title);
    link.addEventListener("click", (e) => { e.preventDefault(); open(job.id); });
    list.append(el("li", { className: `job ${job.status}` }, img,
      el("div", {}, link, el("span", { className: "meta" },
        `${job.status}${job.status === "running" ? ` ${job.progress}%` : ""}${job.duration_s ? ` · ${length(job.duration_s)}` : ""}`
        + ` · ${when(job.created_at)}${job.parent ? " · revision" : ""}`))));
  }
  if (page.jobs.some((j) => j.status === "queued" || j.status === "running")) polling = setTimeout(() => listJobs(token), 3000);
}
$("refresh").addEventListener("click", () => listJobs());

// ---- a new video ----
$("file").addEventListener("change", async () => { const f = $("file").files[0]; if (f) $("story").value = await f.text(); });
$("example").addEventListener("click", async () => { $("story").value = await (await fetch("/example-story")).text(); });
$("job").addEventListener("submit", async (event) => {
  event.preventDefault();
  localStorage.setItem("storyforge-key", $("key").value);
  const options = {};
  for (const name of ["voice", "aspect"]) if ($(name).value) options[name] = $(name).value;
  try {
    const response = await api("/v1/jobs", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ story: $("story").value, profile: $("profile").value, options }) });
    open((await response.json()).id);
  } catch (err) { notice(err.message); }
});

// ---- one job: status, player, history, storyboard ----
async function showJob(id, token) {
  if (!current || current.nav !== token) {
    current = { id, nav: token, loaded: null };
    for (const name of ["player-section", "history-section", "studio", "compare"]) $(name).hidden = true;
    $("title").textContent = ""; $("state").textContent = ""; $("error").textContent = ""; $("stages").replaceChildren();
    $("parent-line").replaceChildren(); $("board").replaceChildren(); $("cast").replaceChildren(); $("chapters").replaceChildren();
    document.body.dataset.video = "";
  }
  let job;
  try { job = await getJson(`/v1/jobs/${id}`); }
  catch (err) {  // a wrong key or an unknown job will not mend itself; a busy server or the network may
    if (stale(token)) return;
    const retry = ![401, 404, 422].includes(err.status);
    say("state", err.status === 401 ? "no access" : err.status === 404 ? "not found" : "");
    say("error", retry ? `${err.message} Trying again in 5 s.` : err.message);
    if (retry) polling = setTimeout(() => showJob(id, token), 5000);
    return;
  }
  if (stale(token)) return;
  const first = !current.job;
  current.job = job;
  say("title", job.title);
  if (first) $("title").focus();  // a screen reader hears which video opened
  document.title = `${job.title} · storyforge`;
  say("state", job.status === "running" ? `running · ${job.progress}%` : job.status);
  $("progress").value = job.progress;
  say("error", job.error ? `It failed: ${job.error}` : "");
  if (job.parent && !$("parent-line").childElementCount) {
    const link = el("a", { href: `/?job=${job.parent}` }, "an earlier version");
    link.addEventListener("click", (e) => { e.preventDefault(); open(job.parent); });
    $("parent-line").append(" · a revision of ", link);
  }
  $("stages").replaceChildren(...Object.entries(job.stages).map(([name, s]) => el("li", {},
    `${name} `, el("progress", { max: Math.max(s.items, 1), value: s.finished ? Math.max(s.items, 1) : s.done,
      ariaLabel: `${name}: ${s.done} of ${s.items}` }), ` ${s.finished ? "done" : `${s.done}/${s.items}`}`)));
  const active = job.status === "queued" || job.status === "running";
  $("cancel").hidden = !active;
  $("delete").hidden = job.status === "running";
  if (active) polling = setTimeout(() => showJob(id, token), 1000);
  // the storyboard once there are shots, and again when the job ends (its pictures and timing are then complete)
  const phase = active ? "running" : "ended";
  if (job.artifacts.includes("shots.json") && current.loaded !== phase) await loadStudio(id, token, phase);
  if (job.status === "succeeded" && !current.played) await loadPlayer(id, job, token);
  if (!active && !stale(token) && !current.historyLoaded) { current.historyLoaded = true; loadHistory(id, token); }
}
$("cancel").addEventListener("click", async () => {
  try { await api(`/v1/jobs/${current.id}/cancel`, { method: "POST" }); clearTimeout(polling); showJob(current.id, nav); }
  catch (err) { notice(err.message); }
});
$("delete").addEventListener("click", async () => {
  if (!confirm("Delete this video and its files?")) return;
  try { await api(`/v1/jobs/${current.id}`, { method: "DELETE" }); open(current.job.parent || null); } catch (err) { notice(err.message); }
});

async function loadPlayer(id, job, token) {
  current.played = true;
  const video = $("video");
  video.replaceChildren();
  let src;
  try { src = await blobUrl(job.video); } catch (err) { if (!stale(token)) { current.played = false; notice(err.message); } return; }
  if (stale(token)) return;
  video.addEventListener("loadeddata", () => { if (!stale(token)) document.body.dataset.video = "loaded"; }, { once: true });
  video.src = src;
  const subtitles = el("track", { kind: "subtitles", label: "Subtitles", srclang: current.language || "en", default: true });
  blobUrl(`/v1/jobs/${id}/artifacts/subtitles.vtt`).then((u) => { subtitles.src = u; }).catch(() => {});
  const chapters = el("track", { kind: "chapters", label: "Scenes", srclang: current.language || "en" });
  video.append(subtitles, chapters);
  $("player-section").hidden = false;
  try {
    const text = await (await api(`/v1/jobs/${id}/chapters.vtt`)).text();
    if (stale(token)) return;
    chapters.src = URL.createObjectURL(new Blob([text], { type: "text/vtt" }));
    $("chapters").replaceChildren(...parseVtt(text).map((cue) => {
      const button = el("button", { type: "button", className: "link" }, `${length(cue.start)} ${cue.text}`);
      button.addEventListener("click", () => seek(cue.start));
      return el("li", {}, button);
    }));
  } catch (err) { $("chapters").replaceChildren(); }
}
function parseVtt(text) {
  const seconds = (t) => t.split(":").reduce((a, b) => a * 60 + parseFloat(b), 0);
  return text.split(/\n\n+/).map((block) => block.split("\n")).filter((l) => l.some((x) => x.includes("-->")))
    .map((lines) => { const i = lines.findIndex((x) => x.includes("-->")); const [a] = lines[i].split(" --> ");
      return { start: seconds(a), text: lines.slice(i + 1).join(" ") }; });
}
function seek(seconds) {
  const video = $("video");
  video.currentTime = seconds + 0.05;
  video.play().catch(() => {});
  video.scrollIntoView({ block: "nearest" });
}
const DOWNLOADS = { video: (id) => [`/v1/jobs/${id}/video`, `${id}.mp4`],
  srt: (id) => [`/v1/jobs/${id}/artifacts/subtitles.srt`, `${id}.srt`], vtt: (id) => [`/v1/jobs/${id}/artifacts/subtitles.vtt`, `${id}.vtt`],
  recipe: (id) => [`/v1/jobs/${id}/recipe.yaml`, `storyforge_${id}.yaml`], story: (id) => [`/v1/jobs/${id}/artifacts/story.txt`, "story.txt"] };
$("downloads").addEventListener("click", async (event) => {
  const kind = event.target.dataset && event.target.dataset.download;
  if (!kind) return;
  const [path, name] = DOWNLOADS[kind](current.id);
  try {
    const a = el("a", { href: await blobUrl(path, true), download: name });
    document.body.append(a); a.click(); a.remove();
  } catch (err) { notice(err.message); }
});

// ---- history and comparison ----
async function loadHistory(id, token) {
  let list;
  try { list = await getJson(`/v1/jobs/${id}/revisions`); } catch (err) { return; }
  if (stale(token)) return;
  current.history = list.revisions;
  const label = (r, i) => `#${i + 1} ${i === 0 ? "first" : summary(r.changes)}`;
  $("history").replaceChildren(...list.revisions.map((r, i) => {
    const link = el("a", { href: `/?job=${r.id}` }, label(r, i));
    link.addEventListener("click", (e) => { e.preventDefault(); open(r.id); });
    const item = el("li", {}, link, el("span", { className: "meta" }, ` · ${r.status} · ${when(r.created_at)}`));
    if (r.id === id) { item.setAttribute("aria-current", "page"); item.classList.add("current"); }
    return item;
  }));
  for (const [select, pick] of [["compare-a", current.job.parent || list.revisions[0].id], ["compare-b", id]]) {
    $(select).replaceChildren(...list.revisions.map((r, i) => el("option", { value: r.id, selected: r.id === pick }, label(r, i))));
  }
  $("history-section").hidden = list.revisions.length < 2;
  if (current.job.parent && current.job.status === "succeeded" && !current.compared) {
    current.compared = true;
    compare(current.job.parent, id, token);
  }
}
function summary(changes) {
  const parts = [...Object.entries(changes.shots).map(([sid, f]) => `${sid} ${Object.keys(f).join(", ")}`),
    ...Object.entries(changes.cast).map(([name, f]) => `${name}'s ${Object.keys(f).join(", ")}`)];
  return parts.length ? parts.join("; ").replace(/: null/g, " reset") : "no changes";
}
$("compare-form").addEventListener("submit", (e) => { e.preventDefault(); compare($("compare-a").value, $("compare-b").value, nav); });
let comparing = 0;  // the latest comparison asked for: an earlier one's reply is dropped
async function compare(a, b, token) {
  const mine = ++comparing;
  let result;
  try { result = await getJson(`/v1/jobs/${a}/compare/${b}`); } catch (err) { if (!stale(token)) notice(err.message); return; }
  if (stale(token) || mine !== comparing) return;
  const changed = new Map(result.shots.map((s) => [s.id, s]));
  $("compare").hidden = false;
  $("compare-summary").textContent = changed.size
    ? `${changed.size} shot${changed.size === 1 ? "" : "s"} differ${changed.size === 1 ? "s" : ""}:` : "No shot differs.";
  $("compare-list").replaceChildren(...result.shots.map((s) => {
    const what = [s.picture && "picture", s.voice && "voice", ...s.fields].filter(Boolean).join(", ");
    const button = el("button", { type: "button", className: "link" }, s.id);
    button.addEventListener("click", () => focusShot(s.id));
    return el("li", { dataset: { shot: s.id } }, button, ` ${what}`);
  }));
  const here = a === current.id || b === current.id;  // the board shown is one of the two
  for (const card of document.querySelectorAll("#board .shot")) {
    const diff = here && changed.get(card.dataset.shot);
    card.classList.toggle("changed", !!diff);
    card.querySelector(".badge").textContent = diff ? "changed" : "";
  }
  for (const [side, id] of [["a", a], ["b", b]]) {
    const job = await getJson(`/v1/jobs/${id}`).catch(() => null);
    const src = job && job.video ? await blobUrl(job.video).catch(() => null) : null;
    if (stale(token) || mine !== comparing) return;
    $(`caption-${side}`).textContent = job ? `${job.title} (${id})` : id;
    if (src) $(`video-${side}`).src = src; else $(`video-${side}`).removeAttribute("src");
  }
}
function focusShot(id) {
  const card = document.querySelector(`#board .shot[data-shot="${id}"]`);
  if (card) { card.scrollIntoView({ block: "center" }); card.querySelector("textarea").focus(); }
}

// ---- the storyboard editor ----
async function loadStudio(id, token, phase) {
  const before = current.loaded;
  current.loaded = phase;
  let shots, cast, scenes;
  try {
    [shots, cast, scenes] = await Promise.all([getJson(`/v1/jobs/${id}/artifacts/shots.json`), getJson(`/v1/jobs/${id}/cast`),
      getJson(`/v1/jobs/${id}/artifacts/scenes.json`).catch(() => ({ scenes: [] }))]);
  } catch (err) { if (!stale(token)) current.loaded = before; return; }
  const edit = await getJson(`/v1/jobs/${id}/artifacts/edit.json`).catch(() => null);
  const story = await getJson(`/v1/jobs/${id}/artifacts/story.json`).catch(() => ({}));
  if (stale(token)) return;
  if (pendingEdits()) return;  // a person is editing: the board stays as it is
  for (const path of [...blobs.keys()]) if (path.includes(`/${id}/artifacts/shots/`)) blobs.delete(path);  // redrawn since
  current.language = story.language;
  current.shots = shots.shots; current.cast = cast;
  current.starts = new Map(((edit && edit.timeline.entries) || []).map((e) => [e.shot_id, e.narration_start_s]));
  renderCast(cast);
  renderBoard(shots.shots, scenes.scenes || []);
  $("studio").hidden = false;
  updatePending();
}
function renderCast(cast) {
  $("cast").replaceChildren(...cast.characters.map((c) => {
    const description = el("textarea", { value: c.description, rows: 2, maxLength: 1000 });
    description.dataset.field = "description";
    const voice = el("select", {}, el("option", { value: "" }, "in cast order"),
      ...cast.voices.map((v) => el("option", { value: v, selected: v === c.voice }, v)));
    voice.dataset.field = "voice";
    voice.disabled = cast.voices.length === 0;
    const portrait = c.portrait ? [el("img", { className: "portrait", src: c.portrait, alt: `${c.name}'s portrait`, loading: "lazy" })] : [];
    const card = el("fieldset", { className: "character" }, el("legend", {}, c.name), ...portrait,
      el("label", {}, "Looks ", description), el("label", {}, "Voice ", voice),
      el("p", { className: "meta" }, c.shots.length ? `In ${c.shots.join(", ")}` : "In no shot"));
    card.dataset.character = c.name;
    card.original = { description: c.description, voice: c.voice };
    return card;
  }));
}
function renderBoard(shots, scenes) {
  const titles = new Map(scenes.map((s) => [s.index, s.title]));
  const names = current.cast.characters.map((c) => c.name);
  const groups = new Map();
  for (const shot of shots) {
    if (!groups.has(shot.scene_index)) groups.set(shot.scene_index, []);
    groups.get(shot.scene_index).push(shot);
  }
  $("board").replaceChildren(...[...groups].map(([scene, list]) => el("section", { className: "scene" },
    el("h4", {}, `Scene ${scene}${titles.get(scene) ? `: ${titles.get(scene)}` : ""}`),
    el("div", { className: "grid" }, ...list.map((shot) => shotCard(shot, names))))));
}
function shotCard(shot, names) {
  const id = shotId(shot);
  const img = el("img", { alt: `Shot ${id}: ${shot.description}`, loading: "lazy" });
  blobUrl(`/v1/jobs/${current.id}/artifacts/shots/${id}.png`).then((u) => { img.src = u; })
    .catch(() => { img.alt = `Shot ${id} (a moving clip, or not drawn yet)`; });
  const field = (node, name) => { node.dataset.field = name; return node; };
  const textarea = (name, value, max) => field(el("textarea", { value, rows: 3, maxLength: max }), name);
  const type = field(el("select", {}, ...SHOT_TYPES.map((t) => el("option", { value: t, selected: t === shot.shot_type }, t.replace(/_/g, " ")))), "shot_type");
  const transition = field(el("select", {}, el("option", { value: "" }, "as the recipe says"),
    ...TRANSITIONS.map((t) => el("option", { value: t, selected: t === shot.transition }, t.replace("_", " ")))), "transition");
  const people = el("fieldset", { className: "people" }, el("legend", {}, "Characters"),
    ...names.map((n) => el("label", {}, field(el("input", { type: "checkbox", value: n, checked: shot.characters.includes(n) }), "characters"), ` ${n}`)));
  const take = el("button", { type: "button", ariaLabel: `New take of ${id}` }, "New take");
  const play = el("button", { type: "button", ariaLabel: `Play from ${id}` }, "Play from here");
  const named = (text) => [text, el("span", { className: "visually-hidden" }, ` of ${id}`), " "];
  const card = el("article", { className: "shot", ariaLabel: `Shot ${id}` },
    el("div", { className: "head" }, el("h5", {}, id), el("span", { className: "badge", ariaLive: "polite" })),
    img,
    el("label", {}, ...named("Picture"), textarea("description", shot.description, 2000)),
    el("label", {}, ...named("Narration"), textarea("narration", shot.narration, 5000)),
    el("div", { className: "row" }, el("label", {}, ...named("Shot"), type),
      el("label", {}, ...named("Camera"), field(el("input", { value: shot.camera, maxLength: 200, size: 12 }), "camera"))),
    el("label", {}, ...named("Transition in"), transition),
    names.length ? people : null,
    el("div", { className: "row" }, take, play));
  card.dataset.shot = id;
  card.shot = shot;
  card.take = shot.take || 0;
  take.addEventListener("click", () => {
    card.take = card.take === (shot.take || 0) ? card.take + 1 : shot.take || 0;
    take.textContent = card.take !== (shot.take || 0) ? `New take ${card.take} (undo)` : "New take";
    take.setAttribute("aria-pressed", String(card.take !== (shot.take || 0)));
    updatePending();
  });
  play.addEventListener("click", () => { if (current.starts.has(id)) seek(current.starts.get(id)); });
  play.disabled = !current.starts.has(id);
  return card;
}
function shotChanges(card) {
  const shot = card.shot, out = {};
  for (const input of card.querySelectorAll("textarea, input:not([type=checkbox]), select")) {
    const name = input.dataset.field, value = input.value;
    if (name === "transition") { if (value !== (shot.transition || "")) out[name] = value || null; }  // null: the recipe's
    else if (value !== String(shot[name])) out[name] = value;
  }
  const people = [...card.querySelectorAll("input[type=checkbox]")].filter((c) => c.checked).map((c) => c.value);
  const known = current.cast.characters.map((c) => c.name);
  const before = shot.characters.filter((n) => known.includes(n));  // names outside the cast stay as they are
  if ([...people].sort().join("\n") !== [...before].sort().join("\n")) {
    out.characters = [...people, ...shot.characters.filter((n) => !known.includes(n))];
  }
  if (card.take !== (shot.take || 0)) out.take = card.take;
  return out;
}
function castChanges(card) {
  const out = {};
  for (const input of card.querySelectorAll("[data-field]")) {
    const name = input.dataset.field;
    if (input.value !== (card.original[name] || "")) out[name] = input.value || (name === "voice" ? null : "");  // null: cast order
  }
  return out;
}
function revision() {
  const body = { shots: {}, cast: {} };
  for (const card of document.querySelectorAll("#board .shot")) {
    const changes = shotChanges(card);
    card.classList.toggle("edited", Object.keys(changes).length > 0);
    if (Object.keys(changes).length) body.shots[card.dataset.shot] = changes;
  }
  for (const card of document.querySelectorAll("#cast .character")) {
    const changes = castChanges(card);
    card.classList.toggle("edited", Object.keys(changes).length > 0);
    if (Object.keys(changes).length) body.cast[card.dataset.character] = changes;
  }
  return body;
}
function pendingEdits() {
  const body = current && current.shots ? revision() : { shots: {}, cast: {} };
  return Object.keys(body.shots).length + Object.keys(body.cast).length > 0;
}
function updatePending() {
  const body = revision();
  const n = Object.keys(body.shots).length, m = Object.keys(body.cast).length;
  $("pending").textContent = n + m ? `Edited: ${n} shot${n === 1 ? "" : "s"}, ${m} character${m === 1 ? "" : "s"}.` : "No edits yet.";
  $("render").disabled = n + m === 0;
}
$("studio").addEventListener("input", updatePending);
$("studio").addEventListener("change", updatePending);
$("render").addEventListener("click", async () => {
  $("render").disabled = true;
  try {
    const response = await api(`/v1/jobs/${current.id}/revisions`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(revision()) });
    const made = await response.json();
    current.shots = null;  // rendered: nothing is left unsaved
    open(made.id);
  } catch (err) { notice(err.message); updatePending(); }
});

route();
