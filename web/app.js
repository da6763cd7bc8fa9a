// The page's side of gan-wgpu in the browser: controls, progress, the grid and the loss chart. All the
// computing is in the wasm module (web/src/lib.rs), which runs the native crate's kernels on WebGPU.
import init, { Gan } from './pkg/gan_wgpu_web.js';

const $ = (id) => document.getElementById(id);
const state = {
  gan: null,
  running: false,
  started: false,
  finished: false,
  dLosses: [],
  gLosses: [],
  stepsDone: 0,
  rateSteps: 0,
  rateSince: 0,
  lastGrid: 0,
  loop: null,
  // The scores of each finished epoch's samples, as `gan-wgpu train` keeps them in history.json.
  quality: [],
  hasClassifier: false,
};
// For the browser tests and the curious: the page's state and module.
window.ganPage = state;

// Loading and sampling one after the other: a file dropped while a grid is being drawn waits for it
// (the module refuses a second call on the same G while one is running).
let sampling = Promise.resolve();
function oneAtATime(task) {
  const run = sampling.then(task);
  sampling = run.catch(() => {});
  return run;
}

function say(text, isError = false) {
  const m = $('message');
  m.textContent = text;
  m.className = isError ? 'error' : '';
}

function errorText(e) {
  return e instanceof Error ? e.message : String(e);
}

function setBusy(running) {
  state.running = running;
  $('pause').textContent = state.started && !running ? 'Resume' : 'Pause';
  $('pause').disabled = !state.started || state.finished;
  $('start').disabled = running;
  const canSave = state.started && !running;
  $('download-g').disabled = !canSave;
  $('download-d').disabled = !canSave;
  $('sample').disabled = running || !state.hasLoaded;
}

function readSettings() {
  const read = (id, min) => {
    const v = Number($(id).value);
    if (!Number.isInteger(v) || v < min) throw new Error(`${id}: a whole number of at least ${min}, please`);
    return v;
  };
  return { seed: read('seed', 0), batch: read('batch', 1), epochs: read('epochs', 1) };
}

function showPng(img, bytes) {
  const old = img.src;
  img.src = URL.createObjectURL(new Blob([bytes], { type: 'image/png' }));
  if (old.startsWith('blob:')) URL.revokeObjectURL(old);
}

function drawLosses() {
  const c = $('losses');
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  const all = state.dLosses.concat(state.gLosses).filter(Number.isFinite);
  if (all.length === 0) return;
  const top = Math.max(...all) * 1.05;
  const n = state.dLosses.length;
  const pad = 28;
  ctx.fillStyle = '#666';
  ctx.font = '11px sans-serif';
  ctx.fillText(top.toFixed(2), 2, 12);
  ctx.fillText('0', 2, c.height - 4);
  ctx.fillText(`${n} steps`, c.width - 60, c.height - 4);
  const plot = (values, colour) => {
    ctx.strokeStyle = colour;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = pad + (c.width - pad - 4) * (n > 1 ? i / (n - 1) : 0);
      const y = (c.height - 16) * (1 - v / top) + 4;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  };
  plot(state.dLosses, '#c33');
  plot(state.gLosses, '#36c');
}

function showProgress(p) {
  $('epoch').textContent = p.finished ? `${p.epochs} of ${p.epochs} (done)` : `${p.epoch} of ${p.epochs}, step ${p.step} of ${p.stepsPerEpoch}`;
  $('steps').textContent = `${p.stepsDone} of ${p.epochs * p.stepsPerEpoch}`;
  const seconds = (performance.now() - state.rateSince) / 1000;
  if (state.rateSteps > 0 && seconds > 0) {
    const rate = state.rateSteps / seconds;
    $('rate').textContent = rate.toFixed(rate < 10 ? 2 : 1);
    const left = p.epochs * p.stepsPerEpoch - p.stepsDone;
    $('eta').textContent = left === 0 ? 'done' : formatSeconds(left / rate);
  }
  const n = state.dLosses.length;
  if (n > 0) $('last-losses').textContent = `D ${state.dLosses[n - 1].toFixed(4)}, G ${state.gLosses[n - 1].toFixed(4)}`;
}

function formatSeconds(s) {
  if (!Number.isFinite(s)) return '–';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

async function refreshGrid() {
  showPng($('grid'), await state.gan.grid());
  state.lastGrid = performance.now();
}

// Images scored at each epoch's end: the native run's quality curve scores as many, so the numbers
// are the same.
const SCORED_IMAGES = 2000;

// The classifier that scores the samples: the MNIST one gan-wgpu ships, fetched with the page.
async function loadClassifier() {
  try {
    const fetchBytes = async (name) => {
      const response = await fetch(`pkg/classifier/${name}`);
      if (!response.ok) throw new Error(`${name}: ${response.status} ${response.statusText}`);
      return new Uint8Array(await response.arrayBuffer());
    };
    const [weights, features] = await Promise.all([
      fetchBytes('mnist.safetensors'), fetchBytes('mnist.features.safetensors')]);
    state.gan.load_classifier(weights, features);
    state.hasClassifier = true;
  } catch (e) {
    $('quality').textContent = `not scored: no classifier (${errorText(e)})`;
  }
}

// Scores G's first 2,000 samples for the run's seed after `epoch`: the classifier score, the Fréchet
// distance to the real digits and the classes covered, as the native epoch line prints them (the
// tests score fewer).
async function scoreEpoch(epoch, images = SCORED_IMAGES) {
  if (!state.hasClassifier) return;
  const t0 = performance.now();
  const q = JSON.parse(await state.gan.score(images));
  const seconds = (performance.now() - t0) / 1000;
  state.quality.push({ epoch, seconds, ...q });
  $('quality').textContent = `epoch ${epoch}: IS ${q.classifier_score.toFixed(3)}, ` +
    `FD ${q.frechet_distance.toFixed(3)}, classes ${q.covered_classes}/${q.histogram.length} ` +
    `(${seconds.toFixed(1)} s to score)`;
}

state.scoreEpoch = scoreEpoch;

// Trains in chunks of steps sized to take about a quarter of a second, so that Pause answers quickly
// and the page stays live; redraws the grid every few seconds and at every epoch's end.
async function trainLoop() {
  let chunk = 1;
  let lastEpoch = state.gan.progress().epoch;
  while (state.running) {
    const t0 = performance.now();
    // A chunk ends at the epoch's end at the latest, so that the epoch's score is of G after it.
    const at = state.gan.progress();
    const losses = await state.gan.train(Math.min(chunk, at.stepsPerEpoch - at.step));
    const took = performance.now() - t0;
    for (let i = 0; i < losses.length; i += 2) {
      state.dLosses.push(losses[i]);
      state.gLosses.push(losses[i + 1]);
    }
    state.rateSteps += losses.length / 2;
    const p = state.gan.progress();
    state.stepsDone = p.stepsDone;
    showProgress(p);
    drawLosses();
    const epochEnded = p.epoch !== lastEpoch || p.finished;
    lastEpoch = p.epoch;
    if (epochEnded || performance.now() - state.lastGrid > 3000) await refreshGrid();
    if (epochEnded) await scoreEpoch(p.finished ? p.epochs : p.epoch - 1);
    if (p.finished) {
      state.finished = true;
      say(`Finished ${p.epochs} epochs (${p.stepsDone} steps). Download the checkpoints, or sample from one below.`);
      break;
    }
    chunk = Math.max(1, Math.min(64, Math.round(chunk * 250 / Math.max(took, 1))));
  }
}

function run() {
  state.running = true;
  state.rateSteps = 0;
  state.rateSince = performance.now();
  setBusy(true);
  state.loop = trainLoop()
    .catch((e) => say(`Training stopped: ${errorText(e)}`, true))
    .finally(() => setBusy(false));
  return state.loop;
}

async function start() {
  let settings;
  try {
    settings = readSettings();
  } catch (e) {
    say(errorText(e), true);
    return;
  }
  if (state.running) return;
  await state.loop;
  try {
    say('Building the run (compiling the kernels takes a moment the first time)…');
    state.gan.start_training(BigInt(settings.seed), settings.batch, settings.epochs);
  } catch (e) {
    say(`Could not start: ${errorText(e)}`, true);
    return;
  }
  Object.assign(state, { started: true, finished: false, dLosses: [], gLosses: [], stepsDone: 0, quality: [] });
  if (state.hasClassifier) $('quality').textContent = 'after the first epoch';
  await refreshGrid();
  say(`Training: seed ${settings.seed}, batch ${settings.batch}, ${settings.epochs} epochs.`);
  await run();
}

async function pause() {
  if (state.running) {
    state.running = false;
    await state.loop;
    say('Paused. Resume continues the same run; the checkpoints can be downloaded now.');
  } else if (state.started && !state.finished) {
    say('Training…');
    await run();
  }
}

async function download(net) {
  try {
    const bytes = await state.gan.checkpoint(net);
    const p = state.gan.progress();
    // The native run's names: G_NNN.safetensors after epoch NNN; a run stopped inside an epoch is named
    // after that epoch and the steps done in it.
    const done = p.finished ? p.epochs : p.step === 0 ? p.epoch - 1 : p.epoch;
    const suffix = p.finished || p.step === 0 ? '' : `_step${String(p.step).padStart(4, '0')}`;
    const name = `${net}_${String(done).padStart(3, '0')}${suffix}.safetensors`;
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    say(`Saved ${name}.`);
  } catch (e) {
    say(`Could not save ${net}: ${errorText(e)}`, true);
  }
}

function load(file) {
  return oneAtATime(async () => {
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      state.gan.load_generator(file.name, bytes);
      state.hasLoaded = true;
      say('');
      setBusy(state.running);
      await drawSample();
      $('loaded').textContent = `Loaded ${file.name} (${bytes.length.toLocaleString()} bytes).`;
    } catch (e) {
      say(`Could not load ${file.name}: ${errorText(e)}`, true);
    }
  });
}

function sample() {
  return oneAtATime(drawSample);
}

async function drawSample() {
  const seed = Number($('sample-seed').value);
  if (!Number.isInteger(seed) || seed < 0) {
    say('The sample seed is a whole number of at least 0.', true);
    return;
  }
  try {
    showPng($('sample-grid'), await state.gan.sample(BigInt(seed)));
  } catch (e) {
    say(`Could not sample: ${errorText(e)}`, true);
  }
}

async function main() {
  if (!navigator.gpu) {
    $('adapter').textContent = 'No WebGPU here.';
    say('This browser has no WebGPU (navigator.gpu is missing), which gan-wgpu needs to train and sample. ' +
      'Recent Chrome and Edge have it on Windows, macOS and ChromeOS; elsewhere look for a WebGPU setting or flag.', true);
    return;
  }
  try {
    await init();
    state.gan = await Gan.open();
  } catch (e) {
    $('adapter').textContent = 'No usable WebGPU adapter.';
    say(`WebGPU is here but could not be used: ${errorText(e)}`, true);
    return;
  }
  $('adapter').textContent = `Adapter: ${state.gan.adapter()}`;
  await loadClassifier();
  $('start').disabled = false;
  $('start').onclick = start;
  $('pause').onclick = pause;
  $('download-g').onclick = () => download('G');
  $('download-d').onclick = () => download('D');
  $('sample').onclick = sample;
  $('file').onchange = (e) => e.target.files[0] && load(e.target.files[0]);
  const drop = $('drop');
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add('over'); };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const file = e.dataTransfer.files[0];
    if (file) load(file);
  };
  document.body.dataset.ready = 'true';
}

main();
