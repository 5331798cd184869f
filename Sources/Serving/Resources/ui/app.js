// Blackbox web UI. Uses only the public JSON API (see /api/openapi.json); no framework, no build step.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const STATUS_EVERY_MS = 2000;

/** Calls the API. A lost session goes back to the login page; errors carry the server's detail. */
async function api(path, options = {}) {
  const headers = { "X-Requested-With": "blackbox", Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    credentials: "same-origin",
  });
  if (response.status === 401) {
    location.href = "/login";
    throw new Error("not logged in");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || data.error || `HTTP ${response.status}`);
  return data;
}

function formatBytes(n) {
  if (n == null) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

function formatDuration(seconds) {
  if (seconds == null) return "–";
  seconds = Math.round(seconds);
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(s).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function formatUptime(seconds) {
  const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60);
  return d ? `${d}d ${h}h ${m}m` : h ? `${h}h ${m}m` : `${m}m ${Math.floor(seconds % 60)}s`;
}

function showMessage(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

// ---------------------------------------------------------------- sections

function showSection() {
  const name = (location.hash || "#live").slice(1);
  for (const page of document.querySelectorAll(".page")) page.hidden = page.id !== name;
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.section === name);
  if (name === "recordings") loadRecordings();
  if (name === "settings") loadSettings();
}

// ---------------------------------------------------------------- live view

const cards = new Map();        // camera id → {root, img, ...}
let previous = null;            // last status, for fps in/out
let connected = true;

function liveURL(id) {
  return `/stream?camera=${encodeURIComponent(id)}&t=${Date.now()}`;
}

/** Sets the badge over a live picture: LIVE, NO SIGNAL, reconnecting… */
function setBadge(card, text, ok) {
  card.badge.textContent = text;
  card.badge.classList.toggle("live", ok);
  card.badge.classList.toggle("problem", !ok);
  card.root.dataset.state = text;
}

function reconnectLive(card) {
  if (card.retry) return;
  setBadge(card, "reconnecting…", false);
  card.retry = setTimeout(() => {
    card.retry = null;
    card.img.src = liveURL(card.id);
  }, 2000);
}

function makeCard(camera) {
  const root = $("#camera-template").content.firstElementChild.cloneNode(true);
  root.dataset.camera = camera.id;
  const card = {
    id: camera.id, root, img: $(".live", root), badge: $(".badge", root), msg: $(".msg", root),
    recToggle: $(".rec-toggle", root), recState: $(".rec-state", root), retry: null,
  };
  $(".name", root).textContent = camera.id;
  card.img.alt = `live view of camera ${camera.id}`;
  card.img.addEventListener("error", () => reconnectLive(card));
  card.img.src = liveURL(camera.id);
  const snapshot = $(".snapshot", root);
  snapshot.href = `/snapshot?camera=${encodeURIComponent(camera.id)}`;
  card.recToggle.addEventListener("click", async () => {
    const start = card.recToggle.dataset.action === "start";
    card.recToggle.disabled = true;
    try {
      await api(`/api/recording/${start ? "start" : "stop"}`, { method: "POST", body: { camera: camera.id } });
      showMessage(card.msg, start ? "Recording started." : "Recording stopped.");
      await refreshStatus();
    } catch (e) {
      showMessage(card.msg, e.message, true);
    } finally {
      card.recToggle.disabled = false;
    }
  });
  $(".event", root).addEventListener("click", async () => {
    try {
      const answer = await api("/api/events", { method: "POST", body: { camera: camera.id, reason: "button" } });
      const ticket = answer.events[0];
      showMessage(card.msg, ticket ? `Event clip being saved: ${ticket.file} (${ticket.preRollSeconds} s before, ${ticket.postRollSeconds} s after).`
                                   : "This camera does not record.");
    } catch (e) {
      showMessage(card.msg, e.message, true);
    }
  });
  $("#cameras").append(root);
  cards.set(camera.id, card);
  return card;
}

function updateCard(card, camera, seconds) {
  const before = previous && previous.cameras.find((c) => c.id === camera.id);
  if (before && seconds > 0) {
    $(".fps-in", card.root).textContent = ((camera.framesCaptured - before.framesCaptured) / seconds).toFixed(1);
    $(".fps-out", card.root).textContent = ((camera.framesEncoded - before.framesEncoded) / seconds).toFixed(1);
  } else {
    $(".fps-out", card.root).textContent = camera.measuredFps.toFixed(1);
  }
  $(".dropped", card.root).textContent = String(camera.framesDropped);
  $(".encode", card.root).textContent = camera.encodeMs ? `${camera.encodeMs.mean.toFixed(1)} ms` : "–";
  $(".viewers", card.root).textContent = String(camera.liveClients);
  $(".size", card.root).textContent = `${camera.width}×${camera.height}@${camera.configuredFps}`;

  const stale = camera.lastFrameAgeMs == null || camera.lastFrameAgeMs > 3000;
  if (camera.state === "no signal") setBadge(card, "NO SIGNAL", false);
  else if (camera.state !== "streaming") setBadge(card, camera.state.toUpperCase(), false);
  else if (stale) setBadge(card, "reconnecting…", false);
  else if (!card.retry) setBadge(card, "LIVE", true);
  card.root.title = camera.stateReason || "";

  const rec = camera.recording;
  if (!rec) {
    card.recToggle.hidden = true;
    card.recState.textContent = "not recording (no recordings folder)";
    return;
  }
  const recording = rec.enabled;
  card.recToggle.textContent = recording ? "Stop recording" : "Start recording";
  card.recToggle.dataset.action = recording ? "stop" : "start";
  card.recToggle.classList.toggle("recording", recording);
  card.recState.classList.toggle("on", rec.state === "recording");
  card.recState.textContent = rec.state === "recording" ? "● REC" : rec.state === "error" ? `error: ${rec.lastError}` : "stopped";
  card.root.dataset.recording = rec.state;
}

function updateSystem(status) {
  $("#sys-uptime").textContent = formatUptime(status.uptimeSeconds);
  const sys = status.system || {};
  const cpu = [];
  if (sys.processCPUPercent != null) cpu.push(`blackbox ${sys.processCPUPercent}% of a core`);
  if (sys.systemCPUPercent != null) cpu.push(`machine ${sys.systemCPUPercent}% of ${sys.cores} cores`);
  $("#sys-cpu").textContent = cpu.join(", ") || "measuring…";
  $("#sys-temp").textContent = sys.temperatureC != null ? `${sys.temperatureC.toFixed(1)} °C` : "not reported";
  $("#sys-mem").textContent = sys.residentMB != null ? `${sys.residentMB} MB` : "–";
  const disk = status.disk;
  if (disk) {
    const limit = Math.max(1, Math.min(disk.quotaBytes, disk.usedBytes + disk.freeBytes));
    $("#sys-disk").value = disk.usedBytes / limit;
    $("#sys-disk-text").textContent = `${formatBytes(disk.usedBytes)} of ${formatBytes(disk.quotaBytes)} quota used, ${formatBytes(disk.freeBytes)} free`;
  } else {
    $("#sys-disk-text").textContent = "not recording";
  }
}

async function refreshStatus() {
  let status;
  try {
    status = await api("/api/status");
  } catch (e) {
    if (connected) {
      connected = false;
      const banner = $("#banner");
      banner.textContent = "Connection to the blackbox lost – reconnecting…";
      banner.hidden = false;
      for (const card of cards.values()) setBadge(card, "reconnecting…", false);
    }
    return;
  }
  if (!connected) {
    connected = true;
    $("#banner").hidden = true;
    for (const card of cards.values()) card.img.src = liveURL(card.id);
  }
  const seconds = previous ? status.uptimeSeconds - previous.uptimeSeconds : 0;
  for (const camera of status.cameras) {
    const card = cards.get(camera.id) || makeCard(camera);
    updateCard(card, camera, seconds);
  }
  updateSystem(status);
  previous = status;
  fillCameraFilter(status.cameras.map((c) => c.id));
}

// ---------------------------------------------------------------- recordings

function fillCameraFilter(ids) {
  const select = $("#rec-camera");
  if (select.options.length > 1) return;
  for (const id of ids) select.add(new Option(id, id));
}

let playing = null;

function play(recording, from = 0) {
  playing = recording;
  $("#player").hidden = false;
  $("#player-title").textContent = recording.path;
  const seek = $("#player-seek");
  seek.max = String(Math.max(1, Math.floor(recording.duration || 1)));
  seek.value = String(from);
  $("#player-time").textContent = formatDuration(from);
  const url = `/recordings/${recording.path.split("/").map(encodeURIComponent).join("/")}`;
  // H.264 plays in the browser's own <video> (Range requests, its own seek bar); MJPEG is replayed as a stream.
  const video = recording.codec === "h264";
  $("#player-video").hidden = !video;
  $("#player-img").hidden = video;
  $(".player .seek").hidden = video;
  if (video) {
    $("#player-img").removeAttribute("src");
    if ($("#player-video").getAttribute("src") !== url) $("#player-video").src = url;
    $("#player-video").currentTime = from;
    $("#player-video").play().catch(() => {});
  } else {
    $("#player-video").removeAttribute("src");
    $("#player-img").src = `${url}/play?t=${from}`;
  }
  $("#player").scrollIntoView({ block: "nearest" });
}

function stopPlaying() {
  playing = null;
  $("#player-img").removeAttribute("src");
  $("#player-video").pause();
  $("#player-video").removeAttribute("src");
  $("#player").hidden = true;
}

function recordingRow(recording) {
  const row = document.createElement("tr");
  row.dataset.path = recording.path;
  row.dataset.kind = recording.kind;
  // Start time from the file name (YYYYMMDD-HHMMSS_camera…), local time of the recording.
  const stamp = /(\d{8})-(\d{2})(\d{2})(\d{2})_/.exec(recording.path.split("/").pop());
  const start = stamp ? `${stamp[2]}:${stamp[3]}:${stamp[4]}` : new Date(recording.modified * 1000).toLocaleTimeString();
  const cells = [start, recording.camera];
  for (const text of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
  }
  const kind = document.createElement("td");
  kind.textContent = recording.kind === "event" ? "" : "segment";
  const tags = [];
  if (recording.kind === "event") tags.push(["event", "event"]);
  if (recording.protected) tags.push(["protected", "protected"]);
  if (recording.writing) tags.push(["writing", "recording…"]);
  // The signature mark: links and signatures checked by the list; "Verify" re-hashes every sample.
  const signatureTags = { intact: ["signed", "signed ✓"], cut: ["signed", "signed ✓ (cut)"], unsigned: ["unsigned", "unsigned"] };
  if (recording.signature) tags.push(signatureTags[recording.signature] || ["tampered", `signature: ${recording.signature}`]);
  for (const [cls, text] of tags) {
    const tag = document.createElement("span");
    tag.className = `tag ${cls}`;
    tag.textContent = text;
    kind.append(tag);
  }
  row.append(kind);
  for (const text of [formatDuration(recording.duration), formatBytes(recording.size)]) {
    const td = document.createElement("td");
    td.textContent = text;
    row.append(td);
  }
  const actions = document.createElement("td");
  actions.className = "actions";
  const playButton = document.createElement("button");
  playButton.type = "button";
  playButton.className = "play";
  playButton.textContent = "Play";
  playButton.addEventListener("click", () => play(recording));
  const download = document.createElement("a");
  download.className = "download";
  download.textContent = "Download";
  download.href = `/recordings/${recording.path.split("/").map(encodeURIComponent).join("/")}`;
  actions.append(playButton, download);
  if (recording.signature && recording.signature !== "unsigned") {
    const check = document.createElement("button");
    check.type = "button";
    check.className = "verify";
    check.textContent = "Verify";
    check.title = "Check every frame against its signature";
    check.addEventListener("click", async () => {
      check.disabled = true;
      try {
        const answer = await api(`/api/recordings/verify?path=${encodeURIComponent(recording.path)}`);
        check.textContent = answer.verdict === "intact" || answer.verdict === "cut" ? "Verified ✓" : `Not intact: ${answer.verdict}`;
        check.title = answer.findings.join("\n") || `all ${answer.fragments} fragments intact, signed by ${answer.signer}`;
        check.dataset.verdict = answer.verdict;
      } catch (e) {
        check.textContent = e.message;
      } finally {
        check.disabled = false;
      }
    });
    actions.append(check);
  }
  if (!recording.writing) {
    const protect = document.createElement("button");
    protect.type = "button";
    protect.className = "protect";
    protect.textContent = recording.protected ? "Unprotect" : "Protect";
    protect.title = recording.protected ? "Let loop recording delete it when space is needed" : "Never delete it automatically";
    protect.addEventListener("click", async () => {
      try {
        await api("/api/recordings/protect", { method: "POST", body: { path: recording.path, protected: !recording.protected } });
        await loadRecordings();
      } catch (e) {
        $("#rec-count").textContent = e.message;
      }
    });
    actions.append(protect);
  }
  row.append(actions);
  return row;
}

async function loadRecordings() {
  const query = new URLSearchParams();
  for (const [name, id] of [["camera", "#rec-camera"], ["day", "#rec-day"], ["kind", "#rec-kind"]]) {
    const value = $(id).value;
    if (value) query.set(name, value);
  }
  let answer;
  try {
    answer = await api(`/api/recordings?${query}`);
  } catch (e) {
    $("#rec-count").textContent = e.message;
    return;
  }
  const body = $("#rec-body");
  body.replaceChildren();
  let day = null;
  const days = new Set();
  for (const recording of answer.recordings) {
    days.add(recording.day);
    if (recording.day !== day) {
      day = recording.day;
      const header = document.createElement("tr");
      header.className = "day";
      const cell = document.createElement("td");
      cell.colSpan = 6;
      cell.textContent = day || "other";
      header.append(cell);
      body.append(header);
    }
    body.append(recordingRow(recording));
  }
  const daySelect = $("#rec-day");
  const known = new Set([...daySelect.options].map((o) => o.value));
  for (const d of [...days].sort().reverse()) if (d && !known.has(d)) daySelect.add(new Option(d, d));
  $("#rec-count").textContent = `${answer.recordings.length} of ${answer.total} recordings`;
}

// ---------------------------------------------------------------- settings

function fillFps(form, choices) {
  const [w, h] = form.size.value.split("x").map(Number);
  const entry = choices.sizes.find((s) => s.width === w && s.height === h);
  const current = Number(form.fps.value || form.dataset.fps);
  form.fps.replaceChildren(...(entry ? entry.fps : []).map((f) => new Option(`${f} fps`, String(f))));
  if (entry && entry.fps.includes(current)) form.fps.value = String(current);
}

function settingsForm(camera) {
  const root = $("#settings-template").content.firstElementChild.cloneNode(true);
  root.dataset.camera = camera.id;
  $(".name", root).textContent = camera.id;
  $(".source", root).textContent = `source: ${camera.source}`;
  const size = $(".size", root), quality = $(".quality", root), overlay = $(".overlay", root), msg = $(".msg", root);
  root.size = size;
  root.fps = $(".fps", root);
  size.replaceChildren(...camera.choices.sizes.map((s) => new Option(`${s.width}×${s.height}`, `${s.width}x${s.height}`)));
  size.value = `${camera.settings.width}x${camera.settings.height}`;
  root.dataset.fps = String(camera.settings.fps);
  fillFps(root, camera.choices);
  root.fps.value = String(camera.settings.fps);
  size.addEventListener("change", () => fillFps(root, camera.choices));
  quality.min = String(camera.choices.qualityMin);
  quality.max = String(camera.choices.qualityMax);
  quality.value = String(camera.settings.quality);
  $(".quality-value", root).textContent = quality.value;
  quality.addEventListener("input", () => { $(".quality-value", root).textContent = quality.value; });
  overlay.checked = camera.settings.overlay;
  const codec = $(".codec", root);
  codec.value = camera.settings.codec;
  $(".note", root).hidden = camera.choices.reencodes;
  root.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [width, height] = size.value.split("x").map(Number);
    const apply = $(".apply", root);
    apply.disabled = true;
    showMessage(msg, "Applying…");
    try {
      const answer = await api(`/api/cameras/${encodeURIComponent(camera.id)}/settings`, {
        method: "POST",
        body: { width, height, fps: Number(root.fps.value), quality: Number(quality.value), overlay: overlay.checked, codec: codec.value },
      });
      const s = answer.settings;
      showMessage(msg, `Applied: ${s.width}×${s.height} at ${s.fps} fps, quality ${s.quality}, overlay ${s.overlay ? "on" : "off"}, recording ${s.codec}.`);
    } catch (e) {
      showMessage(msg, e.message, true);
    } finally {
      apply.disabled = false;
    }
  });
  return root;
}

async function loadSettings() {
  try {
    const answer = await api("/api/cameras");
    $("#settings-list").replaceChildren(...answer.cameras.map(settingsForm));
  } catch (e) {
    $("#settings-list").textContent = e.message;
  }
  try {
    const key = await api("/api/device-key");
    $("#key-algorithm").textContent = key.algorithm;
    $("#key-fingerprint").textContent = key.fingerprint;
    $("#key-public").textContent = key.publicKey;
    const link = $("#key-download");
    link.href = URL.createObjectURL(new Blob([key.pem], { type: "application/x-pem-file" }));
    link.hidden = false;
  } catch (e) {
    $("#key-algorithm").textContent = `not signed: ${e.message}`;
  }
}

// ---------------------------------------------------------------- start

document.addEventListener("DOMContentLoaded", () => {
  window.addEventListener("hashchange", showSection);
  for (const id of ["#rec-camera", "#rec-day", "#rec-kind"]) $(id).addEventListener("change", loadRecordings);
  $("#rec-refresh").addEventListener("click", loadRecordings);
  $("#player-close").addEventListener("click", stopPlaying);
  $("#player-seek").addEventListener("change", () => { if (playing) play(playing, Number($("#player-seek").value)); });
  $("#player-seek").addEventListener("input", () => { $("#player-time").textContent = formatDuration(Number($("#player-seek").value)); });
  showSection();
  refreshStatus();
  setInterval(refreshStatus, STATUS_EVERY_MS);
});
