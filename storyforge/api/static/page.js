// The storyforge page (index.html); served from /static under a strict CSP (no inline script).
const $ = (id) => document.getElementById(id);
$("key").value = localStorage.getItem("storyforge-key") || "";
const headers = () => ({ "X-API-Key": $("key").value });
async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (!response.ok && response.status !== 202) {
    const body = await response.json().catch(() => ({}));
    const error = new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || response.statusText));
    error.status = response.status;
    throw error;
  }
  return response;
}
async function blobUrl(path) { return URL.createObjectURL(await (await api(path)).blob()); }
$("file").addEventListener("change", async () => { const f = $("file").files[0]; if (f) $("story").value = await f.text(); });
$("example").addEventListener("click", async () => { $("story").value = await (await fetch("/example-story")).text(); });
$("job").addEventListener("submit", async (event) => {
  event.preventDefault();
  localStorage.setItem("storyforge-key", $("key").value);
  const options = {};
  for (const name of ["voice", "aspect"]) if ($(name).value) options[name] = $(name).value;
  $("status").hidden = false; $("error").textContent = ""; $("video").hidden = true; $("board").innerHTML = "";
  try {
    const response = await api("/v1/jobs", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ story: $("story").value, profile: $("profile").value, options }) });
    follow((await response.json()).id);
  } catch (err) { $("error").textContent = err.message; }
});
async function follow(id) {
  let job;
  try { job = await (await api(`/v1/jobs/${id}`)).json(); }
  catch (err) {  // a wrong key or an unknown job will not mend itself; a busy server or network may
    const retry = ![401, 404, 422].includes(err.status);
    $("error").textContent = retry ? `${err.message} Trying again in 5 s.` : err.message;
    if (retry) setTimeout(() => follow(id), 5000);
    return;
  }
  $("error").textContent = "";
  $("state").textContent = job.status; $("progress").value = job.progress;
  $("stages").textContent = Object.entries(job.stages).map(([n, s]) => `${n} ${s.finished ? "✔" : s.done + "/" + s.items}`).join(" · ");
  if (job.status === "queued" || job.status === "running") { setTimeout(() => follow(id), 1000); return; }
  if (job.status !== "succeeded") { $("error").textContent = job.error || job.status; return; }
  const video = $("video");
  video.addEventListener("loadeddata", () => { document.body.dataset.video = "loaded"; }, { once: true });
  video.src = await blobUrl(job.video); video.hidden = false;
  const shots = (await (await api(`/v1/jobs/${id}/artifacts/shots.json`)).json()).shots;
  $("board-title").hidden = false;
  for (const shot of shots) {
    const id2 = `s${String(shot.scene_index).padStart(2, "0")}_${String(shot.index).padStart(2, "0")}`;
    const card = document.createElement("div"); card.className = "shot";
    const img = document.createElement("img"); img.alt = shot.description;
    blobUrl(`/v1/jobs/${id}/artifacts/shots/${id2}.png`).then((u) => { img.src = u; }).catch(() => {});
    const text = document.createElement("p"); text.textContent = `${id2} · ${shot.narration}`;
    card.append(img, text); $("board").append(card);
  }
}
const params = new URLSearchParams(location.search);
if (params.get("job")) { $("status").hidden = false; follow(params.get("job")); }
