// aekit viewer: a thin page over the HTTP API. Every image the page shows comes from the server
// (/testset, /reconstruct, /denoise, /encode, /decode, /interpolate, /generate); the page only
// keeps state, draws arrays into canvases and turns key presses into requests.
"use strict";

const $ = (id) => document.getElementById(id);
// The corruptions the viewer offers come from the server's registry (GET /models, "corruptions"):
// those with a key, in the server's order; digits 1, 2, ... pick them too.
let NOISES = {};        // name -> entry of GET /models "corruptions"
let NOISE_KEYS = {};    // key -> name
const MAX_SLIDERS = 32;

const state = {
  model: null,          // entry of GET /models
  shape: null,          // [C, H, W]
  test: [], labels: [], index: 0,
  image: null,          // current clean input, nested [H][W][C] uint8
  source: "",
  noise: null, level: 0, seed: 1,  // noise: a corruption name, set from GET /models
  b: null,              // the interpolation end B
  frames: [],           // decoded interpolation frames
  view: 0,              // bumps on every change, so late answers to old requests are dropped
};
let inflight = 0;

// ------------------------------------------------------------------ server calls
async function api(path, body) {
  inflight += 1;
  document.body.dataset.busy = "1";
  try {
    const sep = path.includes("?") ? "&" : "?";
    const url = state.model ? `../${path}${sep}model=${encodeURIComponent(state.model.name)}` : `../${path}`;
    const init = body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" },
                                              body: JSON.stringify(body) };
    const response = await fetch(url, init);
    const data = await response.json();
    if (!response.ok) throw new Error(`${response.status}: ${data.detail || response.statusText}`);
    return data;
  } finally {
    inflight -= 1;
    if (inflight === 0) document.body.dataset.busy = "0";
  }
}

function showError(err) {
  const box = $("error");
  box.textContent = err ? String(err.message || err) : "";
  box.hidden = !err;
}

// ------------------------------------------------------------------ drawing arrays
function setSize(canvas) {
  const [, h, w] = state.shape;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
}

function draw(canvas, image) {           // image: nested [H][W][C], uint8 values
  setSize(canvas);
  const [c, h, w] = state.shape;
  const ctx = canvas.getContext("2d");
  const data = ctx.createImageData(w, h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const px = image[y][x];
      const o = 4 * (y * w + x);
      data.data[o] = px[0];
      data.data[o + 1] = c === 3 ? px[1] : px[0];
      data.data[o + 2] = c === 3 ? px[2] : px[0];
      data.data[o + 3] = 255;
    }
  }
  ctx.putImageData(data, 0, 0);
}

function clear(canvas) {
  setSize(canvas);
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
}

function fromCanvas(canvas) {            // any canvas -> nested [H][W][C] at the model's size
  const [c, h, w] = state.shape;
  const small = document.createElement("canvas");
  small.width = w; small.height = h;
  const ctx = small.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(canvas, 0, 0, w, h);
  const rgba = ctx.getImageData(0, 0, w, h).data;
  const image = [];
  for (let y = 0; y < h; y++) {
    const row = [];
    for (let x = 0; x < w; x++) {
      const o = 4 * (y * w + x);
      const [r, g, b, a] = [rgba[o], rgba[o + 1], rgba[o + 2], rgba[o + 3] / 255];
      // transparent pixels count as black (canvas drawings and PNGs with alpha)
      row.push(c === 3 ? [r * a, g * a, b * a].map(Math.round) : [Math.round((0.299 * r + 0.587 * g + 0.114 * b) * a)]);
    }
    image.push(row);
  }
  return image;
}

// ------------------------------------------------------------------ the main view
function noiseSpec() {
  const k = state.level;
  const entry = NOISES[state.noise];
  return entry.viewer_spec
    .replaceAll("{name}", entry.name)
    .replaceAll("{strength}", Math.min(entry.strength * k, entry.max_strength).toFixed(2))
    .replaceAll("{level}", String(k))
    .replaceAll("{size}", String(Math.max(2, Math.round(state.shape[1] / 4))));
}

function buildNoiseControls(corruptions) {
  const offered = corruptions.filter((c) => c.key);
  NOISES = {}; NOISE_KEYS = {};
  const box = $("noise-types");
  box.innerHTML = "";
  offered.forEach((c, i) => {
    NOISES[c.name] = c;
    NOISE_KEYS[c.key] = c.name;
    if (i < 9) NOISE_KEYS[String(i + 1)] = c.name;
    const label = document.createElement("label");
    const radio = document.createElement("input");
    Object.assign(radio, { type: "radio", name: "noise", value: c.name, checked: i === 0 });
    radio.addEventListener("change", () => setNoise(c.name));
    const at = c.label.indexOf(c.key);
    const text = document.createElement("span");
    if (at >= 0) {
      const u = document.createElement("u");
      u.textContent = c.label.slice(at, at + c.key.length);
      text.append(c.label.slice(0, at), u, c.label.slice(at + c.key.length));
    } else {
      text.textContent = `${c.label} (${c.key})`;
    }
    label.title = c.usage;
    label.append(radio, " ", text);
    box.append(label);
  });
  $("noise-keys").innerHTML = "";
  for (const c of offered) {
    const kbd = document.createElement("kbd");
    kbd.textContent = c.key;
    $("noise-keys").append(kbd, " ");
  }
  if (offered.length) state.noise = offered[0].name;
}

function fmt(value, digits, unit = "") {
  return value === undefined || value === null || !isFinite(value) ? "–" : `${value.toFixed(digits)}${unit}`;
}

async function refresh() {
  if (!state.image) return;
  const view = ++state.view;
  $("noise-name").textContent = NOISES[state.noise] ? NOISES[state.noise].label : state.noise;
  $("noise-level").textContent = state.level;
  $("source").textContent = state.source;
  draw($("input"), state.image);
  try {
    const clean = api("reconstruct", { images: [state.image] });
    const noisy = state.level > 0 ? api("denoise", { images: [state.image], noise: noiseSpec(), seed: state.seed })
                                  : null;
    const [r, d] = await Promise.all([clean, noisy]);
    if (view !== state.view) return;
    $("mse").textContent = fmt(r.mse[0], 5);
    if (d) {
      draw($("noisy"), d.noisy[0]);
      draw($("output"), d.images[0]);
      $("noisy-caption").textContent = `corrupted input (${d.noise.join(" + ")})`;
      $("psnr-noisy").textContent = fmt(d.psnr_noisy[0], 1, " dB");
      $("psnr-output").textContent = fmt(d.psnr_output[0], 1, " dB");
    } else {
      draw($("noisy"), state.image);
      draw($("output"), r.images[0]);
      $("noisy-caption").textContent = "corrupted input (no noise yet: press space)";
      $("psnr-noisy").textContent = "∞";
      $("psnr-output").textContent = fmt(10 * Math.log10(1 / Math.max(r.mse[0], 1e-12)), 1, " dB");
    }
    showError(null);
    document.body.dataset.renders = String(Number(document.body.dataset.renders) + 1);
  } catch (err) {
    showError(err);
  }
}

async function setImage(image, source) {
  state.image = image;
  state.source = source;
  state.level = 0;
  await Promise.all([refresh(), updateLatent(), updateInterpolation()]);
}

function showTest(index) {
  if (!state.test.length) return;
  state.index = (index + state.test.length) % state.test.length;
  const label = state.labels.length ? ` (label ${state.labels[state.index]})` : "";
  $("index").value = String(state.index + 1);
  return setImage(state.test[state.index], `test image ${state.index + 1}/${state.test.length}${label}`);
}

function addNoise() {
  state.level += 1;
  state.seed = Math.floor(Math.random() * 2 ** 31);
  return refresh();
}

function reset() {
  state.level = 0;
  return refresh();
}

function setNoise(name) {
  state.noise = name;
  document.querySelector(`input[name=noise][value=${name}]`).checked = true;
  if (state.level === 0) state.level = 1;
  return refresh();
}

// ------------------------------------------------------------------ latent sliders
function latentWanted() {
  const m = state.model;
  return m.latent_range && (m.vae || m.latent_dim <= 2);
}

function buildSliders() {
  const m = state.model;
  const box = $("sliders");
  box.innerHTML = "";
  $("latent-card").hidden = !latentWanted();
  if (!latentWanted()) return;
  const shown = Math.min(m.latent_dim, MAX_SLIDERS);
  $("latent-note").textContent = m.latent_dim > shown ? `(first ${shown} of ${m.latent_dim})` : `(${m.latent_dim}-D)`;
  for (let i = 0; i < shown; i++) {
    const [lo, hi] = m.latent_range[i];
    const label = document.createElement("label");
    label.textContent = `z${i}`;
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", min: lo, max: hi, step: (hi - lo) / 200, value: (lo + hi) / 2 });
    slider.className = "latent-slider";
    slider.dataset.dim = String(i);
    const out = document.createElement("output");
    out.textContent = Number(slider.value).toFixed(2);
    slider.addEventListener("input", () => { out.textContent = Number(slider.value).toFixed(2); decodeSliders(); });
    box.append(label, slider, out);
  }
}

let codes = null;          // full code of the current image (dimensions beyond the sliders stay as they are)
let decodePending = false, decodeAgain = false;

async function decodeSliders() {
  if (!codes) return;
  if (decodePending) { decodeAgain = true; return; }   // one request at a time, the latest values win
  decodePending = true;
  try {
    document.querySelectorAll(".latent-slider").forEach((s) => { codes[Number(s.dataset.dim)] = Number(s.value); });
    const d = await api("decode", { codes: [codes] });
    draw($("latent-image"), d.images[0]);
    document.body.dataset.latentRenders = String(Number(document.body.dataset.latentRenders || 0) + 1);
  } catch (err) {
    showError(err);
  } finally {
    decodePending = false;
    if (decodeAgain) { decodeAgain = false; decodeSliders(); }
  }
}

async function updateLatent() {
  if (!latentWanted() || !state.image) return;
  try {
    const e = await api("encode", { images: [state.image] });
    codes = e.codes[0];
    document.querySelectorAll(".latent-slider").forEach((s) => {
      s.value = codes[Number(s.dataset.dim)];
      s.nextElementSibling.textContent = Number(s.value).toFixed(2);
    });
    await decodeSliders();
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------ interpolation
async function updateInterpolation() {
  if (!state.image) return;
  $("interp-card").hidden = false;
  const b = state.b || (state.test.length > 1 ? state.test[(state.index + 1) % state.test.length] : null);
  draw($("interp-a"), state.image);
  if (!b) { clear($("interp-b")); return; }
  draw($("interp-b"), b);
  try {
    const r = await api("interpolate", { images: [state.image, b], steps: 11 });
    state.frames = r.images;
    showFrame();
  } catch (err) {
    showError(err);
  }
}

function showFrame() {
  if (state.frames.length) draw($("interp-image"), state.frames[Number($("interp").value)]);
}

// ------------------------------------------------------------------ drawing pad and uploads
function setUpPad() {
  const pad = $("pad");
  const ctx = pad.getContext("2d");
  const blank = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, pad.width, pad.height); };
  blank();
  let drawing = false;
  const at = (e) => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  };
  pad.addEventListener("pointerdown", (e) => { drawing = true; ctx.beginPath(); ctx.moveTo(...at(e)); });
  pad.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    Object.assign(ctx, { strokeStyle: "#fff", lineWidth: 22, lineCap: "round", lineJoin: "round" });
    ctx.lineTo(...at(e));
    ctx.stroke();
  });
  window.addEventListener("pointerup", () => { drawing = false; });
  $("clear-pad").addEventListener("click", blank);
  $("use-drawing").addEventListener("click", () => setImage(fromCanvas(pad), "your drawing"));
}

function upload(file) {
  if (!file) return;
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    canvas.getContext("2d").drawImage(img, 0, 0);
    URL.revokeObjectURL(url);
    setImage(fromCanvas(canvas), `upload: ${file.name} (${img.naturalWidth}x${img.naturalHeight}, resized)`);
  };
  img.onerror = () => showError(`could not read ${file.name} as an image`);
  img.src = url;
}

// ------------------------------------------------------------------ start
async function loadModel(entry) {
  state.model = entry;
  state.shape = entry.input_shape;
  state.b = null;
  $("model-info").textContent = `${entry.preset} · ${entry.input_shape.join("×")} · ${entry.latent} latent, ` +
    `${entry.latent_dim}-D` + (entry.test_images ? "" : ` · ${entry.test_note}`);
  $("sample").hidden = !entry.vae;
  buildSliders();
  state.test = []; state.labels = [];
  for (let offset = 0; offset < entry.test_images; offset += 256) {
    const t = await api(`testset?offset=${offset}&limit=${Math.min(256, entry.test_images - offset)}`);
    state.test.push(...t.images);
    state.labels.push(...t.labels);
  }
  $("index").max = String(state.test.length);
  if (state.test.length) {
    await showTest(0);
  } else {
    $("source").textContent = "no test images: draw one or upload a file";
    [$("input"), $("noisy"), $("output")].forEach(clear);
  }
}

async function main() {
  setUpPad();
  $("prev").addEventListener("click", () => showTest(state.index - 1));
  $("next").addEventListener("click", () => showTest(state.index + 1));
  $("index").addEventListener("change", (e) => showTest(Number(e.target.value) - 1));
  $("add-noise").addEventListener("click", addNoise);
  $("reset").addEventListener("click", reset);
  $("upload").addEventListener("change", (e) => upload(e.target.files[0]));
  $("interp").addEventListener("input", showFrame);
  $("set-b").addEventListener("click", () => { state.b = state.image; updateInterpolation(); });
  $("sample").addEventListener("click", async () => {
    try {
      const g = await api("generate", { n: 1, seed: Math.floor(Math.random() * 2 ** 31) });
      await setImage(g.images[0], "a sample from the prior");
    } catch (err) { showError(err); }
  });
  document.addEventListener("keydown", (e) => {
    const key = e.key;
    const t = e.target;
    if (t instanceof HTMLSelectElement) return;
    if (t instanceof HTMLInputElement && !["radio", "range", "file"].includes(t.type)) return;
    if (t instanceof HTMLInputElement && t.type === "range" && key.startsWith("Arrow")) return;  // moves the slider
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (key === " ") { e.preventDefault(); addNoise(); }
    else if (key === "ArrowRight") { e.preventDefault(); showTest(state.index + 1); }
    else if (key === "ArrowLeft") { e.preventDefault(); showTest(state.index - 1); }
    else if (key === "r") reset();
    else if (Object.hasOwn(NOISE_KEYS, key)) setNoise(NOISE_KEYS[key]);
  });
  try {
    const info = await api("models");
    buildNoiseControls(info.corruptions);
    const select = $("model");
    for (const m of info.models) select.add(new Option(m.name, m.name));
    $("model-picker").hidden = info.models.length < 2;
    select.addEventListener("change", () => loadModel(info.models.find((m) => m.name === select.value)));
    await loadModel(info.models.find((m) => m.name === info.default));
  } catch (err) {
    showError(err);
  }
  document.body.dataset.ready = "1";
}

main();
