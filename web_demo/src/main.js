// The page: manifest and images from data/, models through LiteRT.js, the benchmark, the view.
//
// `window.lcnetDemo` is the page's programmatic face (the Playwright tests and
// benchmarks/web_vs_native.py use it): `ready` (a promise), `benchmark(options)` and
// `runFromControls()`.

import {initLiteRt, ModelRunner, timerResolutionMs, wasmLog} from './litert.js';
import {runProtocol, summarize} from './protocol.js';
import {isComparisonRole, layoutOf, roleRank, unitsOf} from './units.js';
import {drawScatter, renderImages, renderTable, samePrecisionText} from './view.js';

// Warm-up of each model before timing, beyond compare_models's 5 invokes (protocol.js).
const DEFAULT_WARMUP_MS = 2000;
const params = new URLSearchParams(location.search);
const dataUrl = new URL(params.get('data') ?? 'data/', location.href);
const threads = Math.max(1, Number.parseInt(params.get('threads') ?? '1', 10) || 1);
const $ = (id) => document.getElementById(id);

const state = {manifest: null, pixels: null, runners: new Map(), env: null, running: false};

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

function pixelsOf(index) {
  const [h, w, c] = state.manifest.images.shape;
  const size = h * w * c;
  return state.pixels.subarray(index * size, (index + 1) * size);
}

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response;
}

async function runnerFor(model) {
  // Compiled once, never deleted (deleting crashed the threaded build; see litert.js).
  if (!state.runners.has(model.name)) {
    state.runners.set(model.name, ModelRunner.load(new URL(model.file, dataUrl).href,
                                                   {threads}));
  }
  return state.runners.get(model.name);
}

function modelsFor(precision) {
  const models = state.manifest.models.filter(
      (m) => precision === 'all' || m.precision === precision);
  return models.sort((a, b) => roleRank(a.role) - roleRank(b.role));  // Stable: precision order.
}

/**
 * What a run times: each model with learned gates, and with `gates` "learned+open" each
 * dynamic model that has the force_gates_open input also with every gate forced open
 * (entry name "<model>@open"; not the static comparison rows: static, a cascade's stage<i>,
 * reference).
 */
export function entriesFor({precision = 'float', gates = 'learned', models = null} = {}) {
  const chosen = models ?
      models.map((name) => {
        const model = state.manifest.models.find((m) => m.name === name);
        if (!model) throw new Error(`no model ${name} in the manifest`);
        return model;
      }) :
      modelsFor(precision);
  const entries = [];
  for (const model of chosen) {
    entries.push({name: model.name, model, forceOpen: false});
    if (gates === 'learned+open' && model.has_force_input && !isComparisonRole(model.role)) {
      entries.push({name: `${model.name}@open`, model, forceOpen: true});
    }
  }
  return entries;
}

/** `static`, else the first static row (static_*), reference, stage<i>, else the first. */
function pickReference(entries) {
  const learned = entries.filter((e) => !e.forceOpen);
  const byName = entries.find((e) => e.name === 'static');
  const byRole = (test) => learned.find((e) => test(e.model.role));
  return (byName ?? byRole((role) => role === 'static') ?? byRole((role) => role === 'reference') ??
          byRole(isComparisonRole) ?? entries[0]).name;
}

/** How the columns of an entry's `gate` output are drawn (units.js `layoutOf`). */
function layoutFor(modelName, record) {
  const model = state.manifest.models.find((m) => m.name === modelName);
  const columns = record.gate.length ? record.gate[0].length : (model?.num_blocks ?? 0);
  return layoutOf(unitsOf(model, columns));
}

/**
 * Runs the benchmark protocol in this page.
 *
 * @param {object} options precision ('float', 'int8', ..., 'all'), gates ('learned' or
 *     'learned+open'), models (names; overrides precision), entries ([{name, model (name),
 *     forceOpen}]; overrides both), numImages, repeats, chunk, warmupMs, reference (entry
 *     name).
 * @return {Promise<object>} {summary, perImage, reference, entries, settings, env}.
 */
export async function benchmark(options = {}) {
  await ready;
  if (state.running) throw new Error('a run is in progress');
  state.running = true;
  try {
    const count = state.manifest.images.count;
    const numImages = Math.min(options.numImages ?? count, count);
    const repeats = options.repeats ?? 3;
    const chunk = options.chunk ?? 50;
    const warmupMs = options.warmupMs ?? DEFAULT_WARMUP_MS;
    const entries = options.entries ?
        options.entries.map((e) => ({
          name: e.name,
          model: state.manifest.models.find((m) => m.name === e.model),
          forceOpen: Boolean(e.forceOpen),
        })) :
        entriesFor(options);
    for (const entry of entries) {
      if (!entry.model) throw new Error(`unknown model in entry ${entry.name}`);
    }
    if (!entries.length) throw new Error('no model to run');
    const runners = {};
    for (const entry of entries) runners[entry.name] = await runnerFor(entry.model);
    const reference = options.reference ?? pickReference(entries);
    const labels = state.manifest.images.labels;
    const runOne = async (name, index) => {
      const runner = runners[name];
      const inputs = runner.makeInputs(pixelsOf(index),
                                       entries.find((e) => e.name === name).forceOpen);
      try {
        return await runner.run(inputs);
      } finally {
        ModelRunner.deleteInputs(inputs);
      }
    };
    const perImage = await runProtocol({
      entries: entries.map((e) => e.name), numImages, repeats, chunk, runOne, labels,
      onChunk: options.onChunk, warmupMs,
    });
    return {
      summary: summarize(perImage, reference),
      perImage,
      reference,
      entries: entries.map((e) => ({name: e.name, model: e.model.name, forceOpen: e.forceOpen})),
      settings: {numImages, repeats, chunk, threads, warmupMs},
      env: {...state.env, wasmLogLines: wasmLog.lines, wasmLogFirst: wasmLog.first.slice(),
            wasmLogLast: wasmLog.last},
    };
  } finally {
    state.running = false;
  }
}

function render(result) {
  const {summary, perImage, reference, settings} = result;
  $('results').hidden = false;
  $('protocol').textContent =
      `${settings.numImages} images, ${settings.repeats} repeats (median), chunks of ` +
      `${settings.chunk}, ${settings.warmupMs} ms warm-up per model, ${settings.threads} ` +
      `thread(s); reference: ${reference}.`;
  const layouts = Object.fromEntries(result.entries.map(
      (e) => [e.name, layoutFor(e.model, perImage[e.name])]));
  renderTable($('summary'), summary, {perImage, layouts});
  $('same-precision').textContent = samePrecisionText(summary);
  drawScatter($('scatter'), perImage);
  const shown = result.entries.find((e) => e.model.startsWith('dynamic') && !e.forceOpen) ??
      result.entries.find((e) => !e.forceOpen) ?? result.entries[0];
  const ownReference = shown.name === reference;
  $('per-image-model').textContent = `(${shown.name}` +
      (ownReference ? ')' : `; FLOPs % and latency next to ${reference})`);
  renderImages($('images-grid'), {
    record: perImage[shown.name], layout: layouts[shown.name],
    reference: ownReference ? null : perImage[reference],
    referenceName: reference,
    pixelsOf, shape: state.manifest.images.shape, labels: state.manifest.images.labels,
    classNames: state.manifest.class_names,
  });
}

/** Runs with the settings of the controls and shows the result. */
export async function runFromControls() {
  const button = $('run');
  button.disabled = true;
  const progress = $('progress');
  progress.value = 0;
  try {
    const result = await benchmark({
      precision: $('precision').value,
      gates: $('gates').value,
      numImages: Number($('images').value),
      repeats: Number($('repeats').value),
      chunk: Number($('chunk').value),
      warmupMs: Number($('warmup').value),
      onChunk: async (done, total) => {
        progress.value = done / total;
        await new Promise((resolve) => setTimeout(resolve, 0));  // Lets the bar repaint.
      },
    });
    render(result);
    setStatus(statusText());
    return result;
  } catch (error) {
    setStatus(`Run failed: ${error.message}`, true);
    throw error;
  } finally {
    button.disabled = false;
  }
}

function statusText() {
  const env = state.env;
  const isolation = env.crossOriginIsolated ? 'cross-origin isolated' :
      'NOT cross-origin isolated (coarse timers: see README)';
  const log = wasmLog.lines ?
      `; ${wasmLog.lines} LiteRT log lines kept out of the console (last: ${wasmLog.last})` : '';
  return `LiteRT.js ${env.build} build, ${env.threads} thread(s); ${isolation}, timer step ` +
      `${env.timerResolutionMs.toFixed(4)} ms; ${state.manifest.models.length} models, ` +
      `${state.manifest.images.count} test images${log}.`;
}

async function setup() {
  $('threads').value = String(threads);
  $('threads').addEventListener('change', () => {
    // The WASM build (single-thread or threaded) is chosen once per page load.
    const next = new URL(location.href);
    next.searchParams.set('threads', $('threads').value);
    location.href = next.href;
  });
  const [manifest, pixels] = await Promise.all([
    fetchOk(new URL('manifest.json', dataUrl)).then((r) => r.json()),
    fetchOk(new URL('images.bin', dataUrl)).then((r) => r.arrayBuffer()),
  ]);
  state.manifest = manifest;
  state.pixels = new Uint8Array(pixels);
  const [h, w, c] = manifest.images.shape;
  if (state.pixels.length !== manifest.images.count * h * w * c) {
    throw new Error(`images.bin holds ${state.pixels.length} bytes, expected ` +
                    `${manifest.images.count} x ${h}x${w}x${c}`);
  }
  const loaded = await initLiteRt({threads});
  state.env = {...loaded, crossOriginIsolated: self.crossOriginIsolated,
               timerResolutionMs: timerResolutionMs(), userAgent: navigator.userAgent};
  const precisions = [...new Set(manifest.models.map((m) => m.precision))];
  if (precisions.length > 1) precisions.push('all');
  $('precision').replaceChildren(...precisions.map((p) => new Option(p, p)));
  const canForce = manifest.models.some((m) => m.role === 'dynamic' && m.has_force_input);
  $('gates').querySelector('option[value="learned+open"]').disabled = !canForce;
  $('warmup').value = String(DEFAULT_WARMUP_MS);
  $('images').max = String(manifest.images.count);
  $('images').value = String(Math.min(100, manifest.images.count));
  for (const [param, id] of [['precision', 'precision'], ['gates', 'gates'],
                             ['images', 'images'], ['repeats', 'repeats'], ['chunk', 'chunk'],
                             ['warmup', 'warmup']]) {
    if (params.has(param)) $(id).value = params.get(param);
  }
  $('run').disabled = false;
  $('run').addEventListener('click', () => runFromControls().catch(() => {}));
  setStatus(statusText());
}

const ready = setup().catch((error) => {
  setStatus(`Cannot start: ${error.message}`, true);
  throw error;
});

window.lcnetDemo = {ready, benchmark, runFromControls, entriesFor, state};
