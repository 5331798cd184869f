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
  if (name === "recordings") { openTimeline(); loadRecordings(); }
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
    showLive(card);
  }, 2000);
}

// ---------------------------------------------------------------- live H.264 (Media Source Extensions)

const LIVE_CHOICE = "blackbox.live";   // auto | h264 | mjpeg, kept in this browser
const H264_PROBE = 'video/mp4; codecs="avc1.64001f"';

/** Whether this browser can play the live H.264 stream; where not, the live view is MJPEG. */
function mseAvailable() {
  return typeof window.MediaSource === "function" && MediaSource.isTypeSupported(H264_PROBE);
}

/** Which kind the card should show: H.264 when chosen (or, on auto, when the camera records H.264 anyway) and playable. */
function wantedLive(card) {
  const choice = localStorage.getItem(LIVE_CHOICE) || "auto";
  if (!mseAvailable() || choice === "mjpeg") return "mjpeg";
  return choice === "h264" || card.codec === "h264" ? "h264" : "mjpeg";
}

/** Starts the card's live picture in the kind it should use, stopping the other. */
function showLive(card) {
  const kind = card.failedH264 ? "mjpeg" : wantedLive(card);
  card.root.dataset.live = kind;
  card.liveKind.textContent = kind === "h264" ? "H.264" : "MJPEG";
  card.liveKind.title = kind === "h264" ? "live H.264 (Media Source Extensions): about a fifth of the bytes of MJPEG"
    : mseAvailable() ? "live Motion JPEG" : "live Motion JPEG (this browser cannot play live H.264)";
  card.video.hidden = kind !== "h264";
  card.img.hidden = kind === "h264";
  if (kind === "h264") {
    card.img.removeAttribute("src");  // no MJPEG connection: the camera need not make JPEGs for it
    startH264(card);
  } else {
    stopH264(card);
    card.img.src = liveURL(card.id);
  }
}

function stopH264(card) {
  card.listen.hidden = true;
  card.video.muted = true;
  if (!card.h264) return;
  card.h264.controller.abort();
  card.h264 = null;
  card.video.removeAttribute("src");
  card.video.load();
}

/** Plays /stream.mp4 in the card's video: fetched as a stream, appended to a SourceBuffer, kept within about a second of live. */
async function startH264(card) {
  stopH264(card);
  const session = { controller: new AbortController() };
  card.h264 = session;
  const video = card.video;
  try {
    const response = await fetch(`/stream.mp4?camera=${encodeURIComponent(card.id)}&t=${Date.now()}`,
                                 { signal: session.controller.signal, headers: { "X-Requested-With": "blackbox" } });
    if (!response.ok) throw new Error(`the H.264 stream answered ${response.status}`);
    const codecs = response.headers.get("X-Codec") || "avc1.64001f";
    const type = `video/mp4; codecs="${codecs}"`;
    if (!MediaSource.isTypeSupported(type)) throw new Error(`this browser cannot play ${type}`);
    card.listen.hidden = !codecs.includes("mp4a");
    // Listen, once chosen, holds for the card across reconnects (the click already let the page play sound).
    video.muted = !(card.listening && codecs.includes("mp4a"));
    card.startEpoch = Number(response.headers.get("X-Start-Epoch"));
    card.root.dataset.startEpoch = String(card.startEpoch);
    const source = new MediaSource();
    video.src = URL.createObjectURL(source);
    await new Promise((resolve, reject) => {
      source.addEventListener("sourceopen", resolve, { once: true });
      setTimeout(() => reject(new Error("the media source did not open")), 5000);
    });
    const buffer = source.addSourceBuffer(type);
    const queue = [];
    const pump = () => {
      if (buffer.updating || !queue.length || card.h264 !== session) return;
      // What was played more than 10 s ago is dropped: memory stays bounded however long the page is open.
      if (buffer.buffered.length && video.currentTime - buffer.buffered.start(0) > 20) {
        buffer.remove(0, video.currentTime - 10);
        return;
      }
      buffer.appendBuffer(queue.shift());
    };
    buffer.addEventListener("updateend", () => {
      // Behind by more than a second (a stall, a background tab): jump to just before the newest frame.
      if (buffer.buffered.length) {
        const end = buffer.buffered.end(buffer.buffered.length - 1);
        if (end - video.currentTime > 1.0) video.currentTime = Math.max(0, end - 0.2);
      }
      if (video.paused) video.play().catch(() => {});
      pump();
    });
    const reader = response.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || card.h264 !== session) break;
      queue.push(value);
      pump();
    }
    if (card.h264 === session) reconnectLive(card);
  } catch (e) {
    if (card.h264 !== session || e.name === "AbortError") return;
    // Auto falls back to MJPEG for good on this page; a chosen H.264 tries again.
    if ((localStorage.getItem(LIVE_CHOICE) || "auto") === "auto") {
      card.failedH264 = true;
      showMessage(card.msg, `Live H.264 did not play (${e.message}); showing MJPEG.`, true);
      showLive(card);
    } else {
      reconnectLive(card);
    }
  }
}

/** Where the newest frame shown was captured, seconds since 1970 (H.264 only): for the latency test and the title. */
function shownEpoch(card) {
  return card.h264 && card.startEpoch ? card.startEpoch + card.video.currentTime : null;
}

function makeCard(camera) {
  const root = $("#camera-template").content.firstElementChild.cloneNode(true);
  root.dataset.camera = camera.id;
  const card = {
    id: camera.id, root, img: $(".live", root), badge: $(".badge", root), msg: $(".msg", root),
    recToggle: $(".rec-toggle", root), recState: $(".rec-state", root), retry: null,
    mode: $(".mode", root), motionBadge: $(".motion-badge", root), zones: $(".zones", root), zonesDrawn: "",
    mute: $(".mute", root), sound: $(".sound", root), soundLevel: $(".sound-level", root), soundStat: $(".sound-stat", root),
    video: $(".live-video", root), listen: $(".listen", root), liveKind: $(".live-kind", root), liveSelect: $(".live-choice", root), codec: camera.codec,
    h264: null, failedH264: false, listening: false,
  };
  card.liveSelect.value = localStorage.getItem(LIVE_CHOICE) || "auto";
  card.liveSelect.querySelector('option[value="h264"]').disabled = !mseAvailable();
  card.liveSelect.addEventListener("change", () => {
    localStorage.setItem(LIVE_CHOICE, card.liveSelect.value);
    for (const c of cards.values()) {
      c.failedH264 = false;
      c.liveSelect.value = card.liveSelect.value;
      showLive(c);
    }
  });
  card.video.addEventListener("error", () => { if (card.h264) reconnectLive(card); });
  // Unmuting is a click on the page, which is what lets a browser play sound.
  card.listen.addEventListener("click", () => {
    card.listening = !card.listening;
    card.video.muted = !card.listening;
    card.listen.textContent = card.listening ? "Silence" : "Listen";
  });
  card.mode.addEventListener("change", async () => {
    card.mode.disabled = true;
    try {
      await api(`/api/cameras/${encodeURIComponent(camera.id)}/settings`, { method: "POST", body: { mode: card.mode.value } });
      showMessage(card.msg, { continuous: "Recording every second.", motion: "Recording only when something moves.", off: "Recording off." }[card.mode.value]);
      await refreshStatus();
    } catch (e) {
      showMessage(card.msg, e.message, true);
    } finally {
      card.mode.disabled = false;
    }
  });
  loadZones(card);
  $(".name", root).textContent = camera.id;
  card.img.alt = `live view of camera ${camera.id}`;
  card.img.addEventListener("error", () => { if (card.root.dataset.live === "mjpeg") reconnectLive(card); });
  showLive(card);
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
  card.mute.addEventListener("click", async () => {
    const muted = card.mute.dataset.muted !== "true";
    card.mute.disabled = true;
    try {
      await api(`/api/cameras/${encodeURIComponent(camera.id)}/settings`, { method: "POST", body: { muted } });
      showMessage(card.msg, muted ? "Sound muted: silence is recorded." : "Sound recorded again.");
      await refreshStatus();
    } catch (e) {
      showMessage(card.msg, e.message, true);
    } finally {
      card.mute.disabled = false;
    }
  });
  $("#cameras").append(root);
  cards.set(camera.id, card);
  return card;
}

/** Draws the camera's motion zones over its live picture (include: green, exclude: shaded red), once its size is known. */
async function loadZones(card) {
  try {
    const answer = await api("/api/cameras");
    card.zoneList = (answer.cameras.find((c) => c.id === card.id) || {}).motion?.zones || [];
  } catch (e) {
    card.zoneList = [];
  }
}

function drawZones(card, width, height) {
  const key = `${width}x${height}:${JSON.stringify(card.zoneList || [])}`;
  if (!card.zoneList || card.zonesDrawn === key) return;
  card.zonesDrawn = key;
  card.zones.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const ns = "http://www.w3.org/2000/svg";
  card.zones.replaceChildren(...card.zoneList.map((zone) => {
    const polygon = document.createElementNS(ns, "polygon");
    polygon.setAttribute("class", zone.kind);
    polygon.setAttribute("points", zone.points.map((p) => `${p.x * width},${p.y * height}`).join(" "));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${zone.kind} zone`;
    polygon.append(title);
    return polygon;
  }));
}

function updateCard(card, camera, seconds) {
  // The recording codec decides what "auto" shows: follow a change made in Settings.
  if (card.codec !== camera.codec) {
    card.codec = camera.codec;
    if (!card.failedH264 && wantedLive(card) !== card.root.dataset.live) showLive(card);
  }
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

  // Sound: the level as recorded (peak of the last 100 ms), or why there is none; the mute button.
  const audio = camera.audio;
  card.mute.hidden = card.soundStat.hidden = !audio;
  if (audio) {
    card.mute.dataset.muted = String(audio.muted);
    card.mute.textContent = audio.muted ? "Unmute sound" : "Mute sound";
    card.sound.textContent = audio.state !== "running" ? audio.state : audio.muted ? "muted"
      : audio.peakDBFS == null ? "–" : `${audio.peakDBFS <= -100 ? "silent" : audio.peakDBFS.toFixed(0) + " dBFS"}`;
    card.soundLevel.value = audio.peakDBFS == null ? -60 : Math.max(-60, audio.peakDBFS);
    card.sound.title = audio.reason || `${audio.codec} ${audio.sampleRate / 1000} kHz, ${audio.bitrate / 1000} kbit/s`;
  }

  drawZones(card, camera.width, camera.height);
  const moving = camera.motion?.state === "motion";
  card.motionBadge.hidden = !moving;
  card.root.dataset.motion = camera.motion ? camera.motion.state : "";
  card.motionBadge.title = camera.motion ? `${camera.motion.score.toFixed(1)} % of the picture changed` : "";
  const rec = camera.recording;
  card.mode.parentElement.hidden = !rec;
  if (rec && camera.recordMode && document.activeElement !== card.mode) card.mode.value = camera.recordMode;
  if (!rec) {
    card.recToggle.hidden = true;
    card.recState.textContent = "not recording (no recordings folder)";
    return;
  }
  const recording = camera.recordMode ? camera.recordMode !== "off" : rec.enabled;
  card.recToggle.textContent = recording ? "Stop recording" : "Start recording";
  card.recToggle.dataset.action = recording ? "stop" : "start";
  card.recToggle.classList.toggle("recording", recording);
  const clips = rec.activeEvents > 0 ? " ● CLIP" : "";
  card.recState.textContent = rec.state === "recording" ? "● REC" + clips : rec.state === "error" ? `error: ${rec.lastError}`
    : camera.recordMode === "motion" ? (clips ? "● CLIP (motion)" : "waiting for motion") : clips ? clips.trim() : "stopped";
  card.recState.classList.toggle("on", rec.state === "recording" || rec.activeEvents > 0);
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
    for (const card of cards.values()) showLive(card);
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
  const timelineCamera = $("#tl-camera");
  if (timelineCamera.options.length === 0) {
    for (const id of ids) timelineCamera.add(new Option(id, id));
    if (!$("#recordings").hidden) loadTimeline();
  }
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
  // A clip's kind as a dashcam says it: event (motion, impact), parking (saved while parked), manual (asked for).
  const type = recording.type || (recording.kind === "event" ? "event" : "normal");
  if (type === "event") tags.push(recording.reason === "motion" ? ["motion", "motion"] : ["event", recording.reason ? `event: ${recording.reason}` : "event"]);
  if (type === "parking" || type === "manual") tags.push([type, recording.reason ? `${type}: ${recording.reason}` : type]);
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

let nextPage = null;

async function loadRecordings(more = false) {
  const query = new URLSearchParams();
  if (more === true && nextPage) query.set("before", nextPage);
  for (const [name, id] of [["camera", "#rec-camera"], ["day", "#rec-day"], ["kind", "#rec-kind"]]) {
    const value = $(id).value;
    if (value) query.set(name, value);
  }
  // "motion clips" is the event clips written for motion; parking and manual clips are a type of their own.
  if (query.get("kind") === "motion") { query.set("kind", "event"); query.set("reason", "motion"); }
  if (["parking", "manual"].includes(query.get("kind"))) { query.set("type", query.get("kind")); query.delete("kind"); }
  let answer;
  try {
    answer = await api(`/api/recordings?${query}`);
  } catch (e) {
    $("#rec-count").textContent = e.message;
    return;
  }
  const body = $("#rec-body");
  if (more !== true) body.replaceChildren();
  let day = more === true ? body.lastElementChild?.dataset.day ?? null : null;
  for (const recording of answer.recordings) {
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
    const row = recordingRow(recording);
    row.dataset.day = recording.day;
    body.append(row);
  }
  // Every day with recordings, not only those of the rows loaded.
  const daySelect = $("#rec-day");
  const known = new Set([...daySelect.options].map((o) => o.value));
  for (const d of answer.days) if (d && !known.has(d)) daySelect.add(new Option(d, d));
  nextPage = answer.next || null;
  $("#rec-more").hidden = !nextPage;
  $("#rec-count").textContent = `${body.querySelectorAll("tr[data-path]").length} of ${answer.total} recordings`;
}

// ---------------------------------------------------------------- settings

function fillFps(form, choices) {
  const [w, h] = form.size.value.split("x").map(Number);
  const entry = choices.sizes.find((s) => s.width === w && s.height === h);
  const current = Number(form.fps.value || form.dataset.fps);
  form.fps.replaceChildren(...(entry ? entry.fps : []).map((f) => new Option(`${f} fps`, String(f))));
  if (entry && entry.fps.includes(current)) form.fps.value = String(current);
}

/** The RTSP address of a camera as this browser reaches the daemon, or null when RTSP is off. */
function rtspURL(rtsp, id) {
  const stream = rtsp && rtsp.listening ? rtsp.streams.find((s) => s.camera === id) : null;
  if (!stream) return null;
  const host = location.hostname.includes(":") ? `[${location.hostname}]` : location.hostname;
  return `rtsp://${host}:${rtsp.port}${stream.path}`;
}

function settingsForm(camera, rtsp) {
  const root = $("#settings-template").content.firstElementChild.cloneNode(true);
  root.dataset.camera = camera.id;
  $(".name", root).textContent = camera.id;
  $(".source", root).textContent = `source: ${camera.source}`;
  const rtspAddress = rtspURL(rtsp, camera.id);
  $(".rtsp", root).hidden = !rtspAddress;
  $(".rtsp-url", root).textContent = rtspAddress || "";
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
  const mode = $(".mode", root);
  mode.parentElement.hidden = !camera.settings.mode;
  if (camera.settings.mode) mode.value = camera.settings.mode;
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
        body: { width, height, fps: Number(root.fps.value), quality: Number(quality.value), overlay: overlay.checked, codec: codec.value,
                ...(camera.settings.mode ? { mode: mode.value } : {}) },
      });
      const s = answer.settings;
      showMessage(msg, `Applied: ${s.width}×${s.height} at ${s.fps} fps, quality ${s.quality}, overlay ${s.overlay ? "on" : "off"}, recording ${s.codec}` +
                       (s.mode ? `, mode ${s.mode}.` : "."));
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
    const [answer, current] = await Promise.all([api("/api/cameras"), api("/api/status")]);
    $("#settings-list").replaceChildren(...answer.cameras.map((camera) => settingsForm(camera, current.rtsp)));
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

// ---------------------------------------------------------------- timeline

/** Seconds shown across the track at each zoom level: a day down to five minutes. */
const ZOOMS = [86400, 21600, 3600, 900, 300];
const ZOOM_NAMES = ["24 h", "6 h", "1 h", "15 min", "5 min"];
/** Tick spacing (seconds) per zoom level. */
const TICKS = [7200, 1800, 300, 60, 30];

const tl = {
  data: null,          // the /api/timeline answer of the day shown
  zoom: 0,
  viewStart: 0,        // epoch seconds at the track's left edge
  playStart: null,     // wall time of the first frame of the stream playing
  playEnd: null,
  playSpans: [],       // recorded spans from playStart on: playback skips the gaps between them
  streamStarted: 0,    // performance.now() when an MJPEG stream began
  codec: null,
  paused: true,
  position: null,      // wall time being shown
  selection: [null, null],
  track: null,         // the day's GPS track: {epochs, coordinates, speeds} (null: none)
  gforce: null,        // the day's g-force peaks: {fromEpoch, bucketSeconds, peaks} (null: no accelerometer readings)
  tiles: undefined,    // the map tiles to draw under the track: {template, attribution} (null: none; undefined: not asked yet)
};

const pad2 = (n) => String(n).padStart(2, "0");
function localDay(epoch) { const d = new Date(epoch * 1000); return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`; }
function dayBounds(day) {
  const [y, m, d] = day.split("-").map(Number);
  return [new Date(y, m - 1, d).getTime() / 1000, new Date(y, m - 1, d + 1).getTime() / 1000];
}
function wallClock(epoch) {
  const d = new Date(epoch * 1000);
  return `${localDay(epoch)} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
function hourMinute(epoch, seconds = false) {
  const d = new Date(epoch * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}` + (seconds ? `:${pad2(d.getSeconds())}` : "");
}
const rfc3339 = (epoch) => new Date(epoch * 1000).toISOString();

function viewLength() { return ZOOMS[tl.zoom]; }
function clampView() {
  const [start, end] = dayBounds($("#tl-date").value);
  tl.viewStart = Math.min(Math.max(tl.viewStart, start), end - viewLength());
}
function percentOf(t) { return ((t - tl.viewStart) / viewLength()) * 100; }
function timeAt(clientX) {
  const rect = $("#tl-track").getBoundingClientRect();
  return tl.viewStart + ((clientX - rect.left) / rect.width) * viewLength();
}

/** A positioned block on the track from `start` to `end` (clipped to the view), or null when outside it. */
function block(cls, start, end, title) {
  const left = Math.max(0, percentOf(start)), right = Math.min(100, percentOf(end));
  if (right <= 0 || left >= 100) return null;
  const div = document.createElement("div");
  div.className = cls;
  div.style.left = `${left}%`;
  div.style.width = `${Math.max(right - left, 0.15)}%`;
  if (title) div.title = title;
  return div;
}

function drawTimeline() {
  const data = tl.data;
  const bars = [], ticks = [];
  if (data) {
    // Parked spans (the ignition off) shaded under everything else.
    for (const p of data.parked || []) { const b = block("tl-parked", p.start, p.end, `parked ${hourMinute(p.start, true)}–${hourMinute(p.end, true)}`); if (b) bars.push(b); }
    for (const gap of data.gaps) { const b = block("tl-gap", gap.start, gap.end, `no recording ${hourMinute(gap.start, true)}–${hourMinute(gap.end, true)}`); if (b) bars.push(b); }
    for (const span of data.spans) {
      const b = block("tl-span" + (span.writing ? " writing" : ""), span.start, span.end, `recorded ${hourMinute(span.start, true)}–${hourMinute(span.end, true)}`);
      if (b) bars.push(b);
    }
    for (const file of data.files) if (file.protected) { const b = block("tl-protected", file.start, file.end, `protected: ${file.path}`); if (b) bars.push(b); }
    for (const event of data.events) {
      const kind = event.type === "parking" || event.type === "manual" ? event.type : event.reason === "motion" ? "motion" : "event";
      const impact = (event.reason || "").startsWith("impact") ? " impact" : "";
      const b = block(`tl-event ${kind}${impact}` + (event.protected ? " protected" : ""), event.start, event.end,
                      `${kind}${event.reason && event.reason !== kind ? ": " + event.reason : ""} ${hourMinute(event.start, true)}`);
      if (b) { b.dataset.path = event.path; bars.push(b); }
    }
  }
  // Ticks at least ~56 px apart, whatever the screen.
  const room = Math.max(1, $("#tl-track").clientWidth / 56);
  const step = [30, 60, 300, 600, 1800, 3600, 7200, 14400, 21600].find((s) => s >= TICKS[tl.zoom] && viewLength() / s <= room) || 21600;
  for (let t = Math.ceil(tl.viewStart / step) * step; t < tl.viewStart + viewLength(); t += step) {
    const tick = document.createElement("span");
    tick.className = "tl-tick";
    tick.style.left = `${percentOf(t)}%`;
    tick.textContent = hourMinute(t, step < 60);
    ticks.push(tick);
  }
  $("#tl-bars").replaceChildren(...bars);
  $("#tl-ticks").replaceChildren(...ticks);
  $("#tl-zoom").textContent = ZOOM_NAMES[tl.zoom];
  drawCursor();
  const [a, b] = tl.selection;
  const selection = $("#tl-selection");
  selection.hidden = !(a != null && b != null && b > a);
  if (!selection.hidden) {
    selection.style.left = `${Math.max(0, percentOf(a))}%`;
    selection.style.width = `${Math.max(0, Math.min(100, percentOf(b)) - Math.max(0, percentOf(a)))}%`;
  }
  $("#tl-export").disabled = $("#tl-protect").disabled = selection.hidden;
  drawSpeedGraph();
  drawGForceGraph();
}

function drawCursor() {
  const cursor = $("#tl-cursor");
  const p = tl.position == null ? -1 : percentOf(tl.position);
  cursor.hidden = p < 0 || p > 100;
  cursor.style.left = `${p}%`;
  drawMapDot();
  $("#tl-track").setAttribute("aria-valuetext", tl.position == null ? "" : wallClock(tl.position));
}

/** The day's GPS track (recorded with the camera's segments), drawn as a speed graph under the track and a map beside the player. */
async function loadTrack(camera, day) {
  const [from, to] = dayBounds(day);
  try {
    const feature = await api(`/api/track?camera=${encodeURIComponent(camera)}&from=${encodeURIComponent(rfc3339(from))}&to=${encodeURIComponent(rfc3339(to))}`);
    const p = feature.properties;
    tl.track = p.epochs.length ? { epochs: p.epochs, coordinates: feature.geometry.coordinates, speeds: p.speeds.map((v) => v || 0) } : null;
  } catch (e) {
    tl.track = null;
  }
  if (tl.track && tl.tiles === undefined) tl.tiles = await api("/api/status").then((s) => (s.gps && s.gps.tiles) || null, () => undefined);
  drawMap();
}

/** Speed over the view, scaled to the fastest moment of the day. */
function drawSpeedGraph() {
  const graph = $("#tl-speed-graph");
  // An <svg> has no `hidden` property: its display is set (the style sheet hides it until there is a track).
  graph.style.display = tl.track ? "block" : "none";
  if (!tl.track) return;
  const top = Math.max(1, ...tl.track.speeds);
  const points = [];
  tl.track.epochs.forEach((t, i) => {
    const x = percentOf(t) * 10;
    if (x >= -10 && x <= 1010) points.push(`${x.toFixed(1)},${(38 - (tl.track.speeds[i] / top) * 36).toFixed(1)}`);
  });
  $("#tl-speed-line").setAttribute("points", points.join(" "));
  graph.querySelector("title")?.remove();
  const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
  title.textContent = `speed, up to ${(top * 3.6).toFixed(0)} km/h`;
  graph.prepend(title);
}

/** The day's accelerometer readings as the peak change from gravity per 43 s (2,000 parts of the day). */
async function loadGForce(camera, day) {
  const [from, to] = dayBounds(day);
  try {
    const g = await api(`/api/gforce?camera=${encodeURIComponent(camera)}&from=${encodeURIComponent(rfc3339(from))}&to=${encodeURIComponent(rfc3339(to))}&buckets=2000`);
    tl.gforce = g.peaks.some((p) => p != null) ? g : null;
  } catch (e) {
    tl.gforce = null;
  }
}

/** G-force over the view, scaled to 2 g or the day's hardest knock; impacts are also marked on the track. */
function drawGForceGraph() {
  const graph = $("#tl-gforce-graph");
  graph.style.display = tl.gforce ? "block" : "none";
  if (!tl.gforce) return;
  const g = tl.gforce, top = Math.max(2, ...g.peaks.map((p) => p || 0));
  const points = [];
  g.peaks.forEach((p, i) => {
    if (p == null) return;
    const x = percentOf(g.fromEpoch + (i + 0.5) * g.bucketSeconds) * 10;
    if (x >= -10 && x <= 1010) points.push(`${x.toFixed(1)},${(38 - (p / top) * 36).toFixed(1)}`);
  });
  $("#tl-gforce-line").setAttribute("points", points.join(" "));
  graph.querySelector("title")?.remove();
  const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
  title.textContent = `g-force (change from gravity), up to ${top.toFixed(1)} g`;
  graph.prepend(title);
}

/** Web Mercator, as map tiles are cut: a longitude and latitude as fractions of the world's width and height (0 to 1 from the north-west). */
function mercator(lon, lat) {
  const s = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
  return [(lon + 180) / 360, 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)];
}

/** Where on the map (viewBox 300 x 200) a point lies: the track's bounds scaled to fit, centred. */
function mapPlace(lon, lat) {
  const b = tl.track.bounds, [x, y] = mercator(lon, lat);
  return [150 + (x - b.x) * b.scale, 100 + (y - b.y) * b.scale];
}

/** The track as a line in the page (it works offline), on map tiles when `[gps] tiles` names a server, with a dot where playback is. */
function drawMap() {
  const map = $("#tl-map");
  map.style.display = tl.track ? "inline-block" : "none";
  if (!tl.track) return;
  const points = tl.track.coordinates.map((c) => mercator(c[0], c[1]));
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const west = Math.min(...xs), east = Math.max(...xs), north = Math.min(...ys), south = Math.max(...ys);
  // At most zoom 18 (a parked car's single point is not magnified without end).
  const scale = Math.min(280 / Math.max(1e-12, east - west), 180 / Math.max(1e-12, south - north), 256 * 2 ** 18);
  tl.track.bounds = { x: (west + east) / 2, y: (north + south) / 2, scale };
  drawTiles();
  $("#tl-map-line").setAttribute("points", tl.track.coordinates.map((c) => mapPlace(c[0], c[1]).map((v) => v.toFixed(1)).join(",")).join(" "));
  drawMapDot();
}

/** The tiles that cover the map at the zoom nearest below its scale, each stretched to the map's scale, and their attribution. */
function drawTiles() {
  const layer = $("#tl-map-tiles"), credit = $("#tl-map-credit");
  layer.replaceChildren();
  credit.textContent = (tl.tiles && tl.tiles.attribution) || "";
  if (!tl.tiles) return;
  const b = tl.track.bounds, z = Math.max(0, Math.min(19, Math.floor(Math.log2(b.scale / 256)))), n = 2 ** z, size = b.scale / n;
  const left = b.x - 150 / b.scale, right = b.x + 150 / b.scale, top = b.y - 100 / b.scale, bottom = b.y + 100 / b.scale;
  for (let ty = Math.max(0, Math.floor(top * n)); ty <= Math.min(n - 1, Math.floor(bottom * n)); ty++) {
    for (let tx = Math.floor(left * n); tx <= Math.floor(right * n); tx++) {
      const image = document.createElementNS("http://www.w3.org/2000/svg", "image");
      const wrapped = ((tx % n) + n) % n;
      image.setAttribute("href", tl.tiles.template.replace("{z}", z).replace("{x}", wrapped).replace("{y}", ty));
      image.setAttribute("x", (150 + (tx / n - b.x) * b.scale).toFixed(2));
      image.setAttribute("y", (100 + (ty / n - b.y) * b.scale).toFixed(2));
      image.setAttribute("width", size.toFixed(2));
      image.setAttribute("height", size.toFixed(2));
      layer.append(image);
    }
  }
}

/** The index of the track point nearest in time to `t`. */
function trackIndexAt(t) {
  let best = 0;
  tl.track.epochs.forEach((e, i) => { if (Math.abs(e - t) < Math.abs(tl.track.epochs[best] - t)) best = i; });
  return best;
}

function drawMapDot() {
  const dot = $("#tl-map-dot");
  if (!tl.track || tl.position == null || Math.abs(tl.track.epochs[trackIndexAt(tl.position)] - tl.position) > 5) { dot.style.display = "none"; return; }
  const [x, y] = mapPlace(...tl.track.coordinates[trackIndexAt(tl.position)]);
  dot.setAttribute("cx", x.toFixed(1));
  dot.setAttribute("cy", y.toFixed(1));
  dot.style.display = "inline";
}

/** A click on the map plays the moment of the nearest point. */
function mapClicked(event) {
  if (!tl.track) return;
  const svg = $("#tl-map"), rect = svg.getBoundingClientRect();
  const x = ((event.clientX - rect.left) / rect.width) * 300, y = ((event.clientY - rect.top) / rect.height) * 200;
  let best = 0, distance = Infinity;
  tl.track.coordinates.forEach((c, i) => {
    const [px, py] = mapPlace(c[0], c[1]);
    const d = (px - x) ** 2 + (py - y) ** 2;
    if (d < distance) { distance = d; best = i; }
  });
  playFrom(tl.track.epochs[best]);
}

async function loadTimeline() {
  const camera = $("#tl-camera").value, day = $("#tl-date").value;
  if (!camera || !day) return;
  loadTrack(camera, day).then(drawSpeedGraph);
  loadGForce(camera, day).then(drawGForceGraph);
  try {
    tl.data = await api(`/api/timeline?camera=${encodeURIComponent(camera)}&day=${day}`);
    const hours = tl.data.spans.reduce((sum, s) => sum + s.end - s.start, 0) / 3600;
    $("#tl-info").textContent = `${tl.data.files.length} files, ${hours.toFixed(1)} h recorded, ${tl.data.events.length} events`;
  } catch (e) {
    tl.data = null;
    $("#tl-info").textContent = e.message;
  }
  clampView();
  drawTimeline();
}

function showDay(day) {
  $("#tl-date").value = day;
  tl.viewStart = dayBounds(day)[0];
  tl.zoom = 0;
  loadTimeline();
}

function zoomTo(level) {
  const center = tl.position != null && tl.position >= tl.viewStart && tl.position <= tl.viewStart + viewLength()
    ? tl.position : tl.viewStart + viewLength() / 2;
  tl.zoom = Math.max(0, Math.min(ZOOMS.length - 1, level));
  tl.viewStart = center - viewLength() / 2;
  clampView();
  drawTimeline();
}

/** Wall time `played` seconds of playback after the stream's start, skipping the gaps it skips. */
function wallAt(played) {
  let t = tl.playStart, left = played;
  for (const span of tl.playSpans) {
    if (span.end <= t) continue;
    const begin = Math.max(span.start, t);
    if (left <= span.end - begin) return begin + left;
    left -= span.end - begin;
    t = span.end;
  }
  return t + left;
}

function setMessage(text) { $("#tl-message").textContent = text; }

/** Plays from wall time `t` on, across segments and over gaps. */
async function playFrom(t) {
  const camera = $("#tl-camera").value;
  const speed = Number($("#tl-speed").value);
  const url = `/api/play?camera=${encodeURIComponent(camera)}&start=${encodeURIComponent(rfc3339(t))}`;
  // The stream starts with the fragment that holds `t` (H.264: at its keyframe): ask where first.
  const head = await fetch(url, { method: "HEAD", credentials: "same-origin", headers: { "X-Requested-With": "blackbox" } });
  if (!head.ok) {
    setMessage(head.status === 404 ? `no recording from ${wallClock(t)} on` : `cannot play: HTTP ${head.status}`);
    return;
  }
  tl.playStart = Number(head.headers.get("X-Start-Epoch"));
  tl.playEnd = Number(head.headers.get("X-End-Epoch"));
  tl.codec = (head.headers.get("Content-Type") || "").startsWith("video/mp4") ? "h264" : "mjpeg";
  tl.playSpans = (tl.data ? tl.data.spans : []).filter((s) => s.end > tl.playStart);
  tl.position = tl.playStart;
  tl.paused = false;
  setMessage("");
  $("#tl-player").hidden = false;
  const video = $("#tl-video"), image = $("#tl-image");
  video.hidden = tl.codec !== "h264";
  image.hidden = tl.codec === "h264";
  if (tl.codec === "h264") {
    image.removeAttribute("src");
    video.src = url;
    video.playbackRate = speed;
    video.play().catch(() => {});
  } else {
    video.removeAttribute("src");
    image.src = `${url}&speed=${speed}`;
    tl.streamStarted = performance.now();
  }
  $("#tl-play").textContent = "Pause";
  drawCursor();
}

function pausePlayback() {
  tl.paused = true;
  $("#tl-play").textContent = "Play";
  if (tl.codec === "h264") $("#tl-video").pause();
  else $("#tl-image").removeAttribute("src");
}

function togglePlayback() {
  if (tl.position == null) return;
  if (!tl.paused) return pausePlayback();
  if (tl.codec === "h264" && $("#tl-video").getAttribute("src")) {
    tl.paused = false;
    $("#tl-play").textContent = "Pause";
    $("#tl-video").play().catch(() => {});
  } else {
    playFrom(tl.position);
  }
}

function jump(seconds) {
  if (tl.position != null) playFrom(tl.position + seconds);
}

/** Moves the cursor and the clock with what is playing; keeps the cursor in view. */
function followPlayback() {
  if (tl.paused || tl.playStart == null) return;
  const speed = Number($("#tl-speed").value);
  const played = tl.codec === "h264" ? $("#tl-video").currentTime : ((performance.now() - tl.streamStarted) / 1000) * speed;
  tl.position = wallAt(played);
  $("#tl-clock").textContent = wallClock(tl.position);
  if (tl.zoom > 0 && (tl.position < tl.viewStart || tl.position > tl.viewStart + viewLength())) {
    tl.viewStart = tl.position - viewLength() / 10;
    clampView();
    drawTimeline();
  } else {
    drawCursor();
  }
}

function mark(which) {
  if (tl.position == null) return;
  tl.selection[which] = tl.position;
  drawTimeline();
}

async function protectSelection() {
  const [a, b] = tl.selection;
  const files = [...tl.data.files, ...tl.data.events].filter((f) => f.end > a && f.start < b && !f.protected && !f.writing);
  try {
    for (const f of files) await api("/api/recordings/protect", { method: "POST", body: { path: f.path, protected: true } });
    setMessage(`protected ${files.length} file${files.length === 1 ? "" : "s"}`);
  } catch (e) {
    setMessage(e.message);
  }
  loadTimeline();
}

function exportSelection() {
  const [a, b] = tl.selection;
  const camera = encodeURIComponent($("#tl-camera").value);
  location.href = `/api/export?camera=${camera}&start=${encodeURIComponent(rfc3339(a))}&end=${encodeURIComponent(rfc3339(b))}`;
}

function trackKeys(event) {
  if (event.target.closest("input, select, textarea")) return;
  const keys = { " ": () => togglePlayback(), ArrowLeft: () => jump(event.shiftKey ? -60 : -10), ArrowRight: () => jump(event.shiftKey ? 60 : 10),
                 "+": () => zoomTo(tl.zoom + 1), "=": () => zoomTo(tl.zoom + 1), "-": () => zoomTo(tl.zoom - 1) };
  if (!keys[event.key] || $("#recordings").hidden) return;
  event.preventDefault();
  keys[event.key]();
}

/** Click (or tap) plays from that instant; a drag moves the view (shift-drag selects a span). */
function setUpTrack() {
  const track = $("#tl-track");
  let down = null;
  track.addEventListener("pointerdown", (e) => {
    down = { x: e.clientX, viewStart: tl.viewStart, time: timeAt(e.clientX), select: e.shiftKey, moved: false };
    track.setPointerCapture(e.pointerId);
  });
  track.addEventListener("pointermove", (e) => {
    if (!down) return;
    if (Math.abs(e.clientX - down.x) > 5) down.moved = true;
    if (!down.moved) return;
    if (down.select) {
      const t = timeAt(e.clientX);
      tl.selection = [Math.min(down.time, t), Math.max(down.time, t)];
    } else {
      tl.viewStart = down.viewStart - ((e.clientX - down.x) / track.getBoundingClientRect().width) * viewLength();
      clampView();
    }
    drawTimeline();
  });
  track.addEventListener("pointerup", (e) => {
    if (down && !down.moved) playFrom(timeAt(e.clientX));
    down = null;
  });
  track.addEventListener("pointercancel", () => { down = null; });
}

function setUpTimeline() {
  setUpTrack();
  document.addEventListener("keydown", trackKeys);
  $("#tl-camera").addEventListener("change", loadTimeline);
  $("#tl-date").addEventListener("change", () => showDay($("#tl-date").value));
  for (const [id, delta] of [["#tl-prev", -1], ["#tl-next", 1]]) {
    $(id).addEventListener("click", () => {
      const [start] = dayBounds($("#tl-date").value);
      showDay(localDay(start + delta * 86400 + 3600 * 12));
    });
  }
  $("#tl-zoom-in").addEventListener("click", () => zoomTo(tl.zoom + 1));
  $("#tl-zoom-out").addEventListener("click", () => zoomTo(tl.zoom - 1));
  $("#tl-play").addEventListener("click", togglePlayback);
  for (const button of document.querySelectorAll("#tl-player [data-jump]")) button.addEventListener("click", () => jump(Number(button.dataset.jump)));
  $("#tl-speed").addEventListener("change", () => {
    if (tl.codec === "h264") $("#tl-video").playbackRate = Number($("#tl-speed").value);
    else if (!tl.paused) playFrom(tl.position);
  });
  // The stream of one request ends after an hour or at the newest frame: go on from there.
  $("#tl-video").addEventListener("ended", () => { if (!tl.paused && tl.position != null) playFrom(tl.position + 0.05); });
  $("#tl-mark-in").addEventListener("click", () => mark(0));
  $("#tl-mark-out").addEventListener("click", () => mark(1));
  $("#tl-export").addEventListener("click", exportSelection);
  $("#tl-protect").addEventListener("click", protectSelection);
  $("#tl-map").addEventListener("click", mapClicked);
  setInterval(followPlayback, 250);
}

function openTimeline() {
  if (!$("#tl-date").value) showDay(localDay(Date.now() / 1000));
  else loadTimeline();
}

// ---------------------------------------------------------------- start

document.addEventListener("DOMContentLoaded", () => {
  window.addEventListener("hashchange", showSection);
  for (const id of ["#rec-camera", "#rec-day", "#rec-kind"]) $(id).addEventListener("change", () => loadRecordings());
  $("#rec-refresh").addEventListener("click", loadRecordings);
  $("#rec-more").addEventListener("click", () => loadRecordings(true));
  setUpTimeline();
  $("#player-close").addEventListener("click", stopPlaying);
  $("#player-seek").addEventListener("change", () => { if (playing) play(playing, Number($("#player-seek").value)); });
  $("#player-seek").addEventListener("input", () => { $("#player-time").textContent = formatDuration(Number($("#player-seek").value)); });
  showSection();
  refreshStatus();
  setInterval(refreshStatus, STATUS_EVERY_MS);
});
