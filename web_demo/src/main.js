// The page: manifest and images from data/, models through LiteRT.js, the benchmark, the view.
//
// `window.lcnetDemo` is the page's programmatic face (the Playwright tests and
// benchmarks/web_vs_native.py use it): `ready` (a promise), `benchmark(options)`,
// `runFromControls()`, `setBudget(budget)` (the budget knob's slider) and `idle()` (resolves
// when no run is going on or queued).
//
// Budget knob files (docs/tflite_signature.md, "Budget knob files"): every model file is
// fetched and compiled when the page starts, and its budget table read (knob.js). When one is
// a knob file, a slider over its table's budgets appears; moving it looks the budget up and
// reruns the benchmark with the knob files' "serve_budget" signature at those decisions
// (entry "<model>@<budget>"), next to the other models, and a table and a curve on the
// scatter keep each budget's accuracy, realized FLOPs and latency.

import {budgetRange, commonBudgetRange, lookupBudget} from './knob.js';
import {initLiteRt, ModelRunner, timerResolutionMs, wasmLog} from './litert.js';
import {runProtocol, summarize} from './protocol.js';
import {isComparisonRole, layoutOf, roleRank, unitsOf} from './units.js';
import {decisionsText, drawScatter, renderImages, renderKnobRuns, renderTable,
  samePrecisionText} from './view.js';

// Warm-up of each model before timing, beyond compare_models's 5 invokes (protocol.js).
const DEFAULT_WARMUP_MS = 2000;
const params = new URLSearchParams(location.search);
const dataUrl = new URL(params.get('data') ?? 'data/', location.href);
const threads = Math.max(1, Number.parseInt(params.get('threads') ?? '1', 10) || 1);
const $ = (id) => document.getElementById(id);

const state = {manifest: null, pixels: null, runners: new Map(), env: null, running: false,
               knob: null, knobErrors: [], lastResult: null};

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

/** An entry name's budget part: 3 decimals ("dynamic@0.809"; a non-number as it is, for
 * the lookup's error to name). */
export function budgetLabel(budget) {
  return typeof budget === 'number' ? budget.toFixed(3) : String(budget);
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
 * reference). With a `budget` (a number), the knob files the slider drives run their
 * "serve_budget" signature at that budget instead of "serve" (entry "<model>@<budget>").
 */
export function entriesFor({precision = 'float', gates = 'learned', models = null,
                            budget = null} = {}) {
  const chosen = models ?
      models.map((name) => {
        const model = state.manifest.models.find((m) => m.name === name);
        if (!model) throw new Error(`no model ${name} in the manifest`);
        return model;
      }) :
      modelsFor(precision);
  const entries = [];
  const knobModels = state.knob ? state.knob.models : [];
  for (const model of chosen) {
    if (budget !== null && budget !== undefined && knobModels.includes(model.name)) {
      entries.push({name: `${model.name}@${budgetLabel(budget)}`, model, forceOpen: false,
                    budget});
    } else {
      entries.push({name: model.name, model, forceOpen: false, budget: null});
    }
    if (gates === 'learned+open' && model.has_force_input && !isComparisonRole(model.role)) {
      entries.push({name: `${model.name}@open`, model, forceOpen: true, budget: null});
    }
  }
  return entries;
}

/** `static`, else the first static row (static_*), reference, stage<i>, else the first. */
function pickReference(entries) {
  const learned = entries.filter((e) => !e.forceOpen && e.budget === null);
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
 *     'learned+open'), models (names; overrides precision), budget (a number: the knob
 *     files run "serve_budget" at it; null or absent: "serve"), entries ([{name, model
 *     (name), forceOpen, budget}]; overrides all of these), numImages, repeats, chunk,
 *     warmupMs, reference (entry name).
 * @return {Promise<object>} {summary, perImage, reference, entries (each with `budget` and,
 *     for a knob entry, `setting`: the lookup {budget, decisions, meanFlops, exact}),
 *     settings, env}.
 * @throws {RangeError} a budget outside a knob file's table (the message names the range).
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
          budget: e.budget ?? null,
        })) :
        entriesFor(options);
    for (const entry of entries) {
      if (!entry.model) throw new Error(`unknown model in entry ${entry.name}`);
    }
    if (!entries.length) throw new Error('no model to run');
    const runners = {};
    const byName = {};
    for (const entry of entries) {
      const runner = await runnerFor(entry.model);
      runners[entry.name] = runner;
      byName[entry.name] = entry;
      entry.setting = null;
      if (entry.budget !== null) {
        if (!runner.isKnob) {
          throw new Error(`${entry.model.name} is not a budget knob file` +
                          (runner.budgetTableError ? ` (${runner.budgetTableError})` : ''));
        }
        entry.setting = lookupBudget(runner.budgetTable, entry.budget);  // RangeError
      }
    }
    const reference = options.reference ?? pickReference(entries);
    const labels = state.manifest.images.labels;
    const runOne = async (name, index) => {
      const runner = runners[name];
      const entry = byName[name];
      const decisions = entry.setting ? entry.setting.decisions : null;
      const inputs = runner.makeInputs(pixelsOf(index), {forceOpen: entry.forceOpen, decisions});
      try {
        return await runner.run(inputs, {knob: decisions !== null});
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
      entries: entries.map((e) => ({name: e.name, model: e.model.name, forceOpen: e.forceOpen,
                                    budget: e.budget, setting: e.setting})),
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
  if (state.knob) {
    recordKnobRuns(result);
    const runs = [...state.knob.runs.values()];
    renderKnobRuns($('knob-runs'), runs);
    $('knob-results').hidden = false;
    drawScatter($('scatter'), perImage, {curves: knobCurves(runs)});
  } else {
    drawScatter($('scatter'), perImage);
  }
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

// The UI's runs: one at a time; a request during a run (the slider moved again) makes one more
// run after it, with the controls as they are then.
const uiRuns = {active: null, again: null};

/**
 * Runs with the settings of the controls (and the knob's budget) and shows the result; during
 * a run, queues one more.
 */
export function runFromControls() {
  if (uiRuns.active) {
    uiRuns.again ??= uiRuns.active.catch(() => {}).then(() => {
      uiRuns.again = null;
      return runFromControls();
    });
    return uiRuns.again;
  }
  uiRuns.active = runControlsOnce().finally(() => {
    uiRuns.active = null;
  });
  return uiRuns.active;
}

/** Resolves when no UI run is going on or queued. */
export async function idle() {
  while (uiRuns.active || uiRuns.again) {
    await (uiRuns.again ?? uiRuns.active).catch(() => {});
  }
}

async function runControlsOnce() {
  const button = $('run');
  button.disabled = true;
  const progress = $('progress');
  progress.value = 0;
  try {
    const result = await benchmark({
      precision: $('precision').value,
      gates: $('gates').value,
      budget: state.knob ? state.knob.budget : null,
      numImages: Number($('images').value),
      repeats: Number($('repeats').value),
      chunk: Number($('chunk').value),
      warmupMs: Number($('warmup').value),
      onChunk: async (done, total) => {
        progress.value = done / total;
        await new Promise((resolve) => setTimeout(resolve, 0));  // Lets the bar repaint.
      },
    });
    state.lastResult = result;
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
  const knobNote = state.knob?.note ? ` (${state.knob.note})` : '';
  const knob = state.knob ? `; budget knob: ${state.knob.models.join(', ')}${knobNote}` : '';
  const knobErrors = state.knobErrors?.length ? `; ${state.knobErrors.join('; ')}` : '';
  return `LiteRT.js ${env.build} build, ${env.threads} thread(s); ${isolation}, timer step ` +
      `${env.timerResolutionMs.toFixed(4)} ms; ${state.manifest.models.length} models, ` +
      `${state.manifest.images.count} test images${knob}${knobErrors}${log}.`;
}

// The budget knob -------------------------------------------------------------------------------

/** Each knob run of a result, kept per model and budget (the last run of each). */
function recordKnobRuns(result) {
  const referenceMs = result.summary[result.reference].latency_ms.mean;
  for (const entry of result.entries) {
    if (entry.forceOpen || !state.knob.models.includes(entry.model)) continue;
    const row = result.summary[entry.name];
    const table = state.knob.tables[entry.model];
    const budget = entry.setting ? entry.setting.budget : table.default.budget;
    const key = `${entry.model}@${entry.setting ? budgetLabel(budget) : 'default'}`;
    state.knob.runs.delete(key);  // The latest run of a budget, in the order of the budgets.
    state.knob.runs.set(key, {
      model: entry.model, entry: entry.name, budget, isDefault: entry.setting === null,
      decisionNames: table.decision_names,
      decisions: entry.setting ? entry.setting.decisions : table.default.decisions,
      exact: entry.setting ? entry.setting.exact : null,
      expectedFlops: entry.setting ? entry.setting.meanFlops : table.default.mean_flops,
      referenceFlops: table.reference_flops,
      realizedFlops: row.mean_flops, accuracy: row.accuracy, latencyMs: row.latency_ms,
      reference: result.reference, speedup: referenceMs / row.latency_ms.mean,
    });
  }
  const sorted = [...state.knob.runs.entries()].sort(
      ([, a], [, b]) => a.model.localeCompare(b.model) || a.budget - b.budget);
  state.knob.runs = new Map(sorted);
}

/** Per knob model, its runs' mean (realized MFLOPs, mean ms) by budget: a curve. */
function knobCurves(runs) {
  const curves = new Map();
  for (const run of runs) {
    if (!curves.has(run.model)) curves.set(run.model, {name: run.model, points: []});
    curves.get(run.model).points.push({
      flops: run.realizedFlops, ms: run.latencyMs.mean,
      label: run.isDefault ? 'default' : budgetLabel(run.budget),
    });
  }
  return [...curves.values()];
}

/** The readout next to the slider: what the budget looks up to (or the file's default). */
function showBudget(budget) {
  const knob = state.knob;
  const table = knob.tables[knob.models[0]];
  const reference = `${(table.reference_flops / 1e6).toFixed(2)} reference MFLOPs`;
  let text;
  if (budget === null) {
    const d = table.default;
    const [low, high] = knob.range;
    const outside = d.budget < low || d.budget > high ?
        ` (outside the slider's ${low.toFixed(3)}\u2013${high.toFixed(3)}: it starts at the ` +
            `nearest end)` :
        '';
    text = `default: the file's own decisions ("serve"), ${decisionsText(
        table.decision_names, d.decisions)}; calibrated at ${d.budget.toFixed(3)} of ` +
        `${reference} (${(d.mean_flops / 1e6).toFixed(2)} MFLOPs per image on ` +
        `${table.num_images} training images)${outside}`;
  } else {
    const setting = lookupBudget(table, budget);
    text = `budget ${budgetLabel(budget)}: ${decisionsText(table.decision_names,
                                                           setting.decisions)} ` +
        `(${setting.exact ? `row ${setting.row + 1} of ${table.rows.length}` :
           'interpolated between rows'}); expected ${(setting.meanFlops / 1e6).toFixed(2)} ` +
        `MFLOPs per image (${(100 * setting.meanFlops / table.reference_flops).toFixed(1)}% of ` +
        `${reference})`;
  }
  $('budget-value').textContent = budget === null ? 'default' : budgetLabel(budget);
  $('budget-readout').textContent = text;
}

/**
 * Sets the knob's budget (null: the files' defaults, their "serve" signature) and reruns
 * the benchmark with the controls' settings.
 *
 * @param {?number} budget within the slider's range.
 * @return {Promise<object>} the run's result.
 * @throws {RangeError} outside the range of the knob files' tables.
 */
export function setBudget(budget) {
  const knob = state.knob;
  if (!knob) throw new Error('no budget knob file among the models');
  if (budget !== null) {
    for (const name of knob.models) lookupBudget(knob.tables[name], budget);  // RangeError
  }
  knob.budget = budget;
  const slider = $('budget');
  slider.value = String(budget ?? clampToRange(knob.tables[knob.models[0]].default.budget));
  showBudget(budget);
  return runFromControls();
}

function clampToRange(budget) {
  const [low, high] = state.knob.range;
  return Math.min(high, Math.max(low, budget));
}

/** Reads every model's budget table (compiling each model) and sets the slider up. */
async function setupKnob(manifest) {
  const models = manifest.models.slice().sort((a, b) => roleRank(a.role) - roleRank(b.role));
  const settled = await Promise.allSettled(models.map((m) => runnerFor(m)));
  const knobs = [];
  state.knobErrors = [];
  settled.forEach((outcome, k) => {
    if (outcome.status === 'rejected') {
      state.knobErrors.push(`${models[k].name} did not load: ${outcome.reason.message}`);
    } else if (outcome.value.isKnob) {
      knobs.push({name: models[k].name, table: outcome.value.budgetTable});
    } else if (outcome.value.budgetTableError) {
      state.knobErrors.push(`not used as a knob: ${outcome.value.budgetTableError}`);
    }
  });
  if (!knobs.length) return;
  let chosen = knobs;
  let range = commonBudgetRange(knobs.map((k) => k.table));
  let note = '';
  if (!range) {
    chosen = knobs.slice(0, 1);
    range = budgetRange(chosen[0].table);
    note = `the budget ranges of ${knobs.map((k) => k.name).join(', ')} do not overlap: the ` +
        `slider drives ${chosen[0].name} only`;
  }
  state.knob = {
    models: chosen.map((k) => k.name),
    tables: Object.fromEntries(chosen.map((k) => [k.name, k.table])),
    range, budget: null, runs: new Map(), note,
  };
  const table = chosen[0].table;
  const slider = $('budget');
  slider.min = String(range[0]);
  slider.max = String(range[1]);
  slider.step = 'any';
  $('budget-rows').replaceChildren(...table.rows.map((row) => new Option('', String(row.budget))));
  slider.value = String(clampToRange(table.default.budget));
  $('budget-models').textContent = state.knob.models.join(', ');
  $('budget-range').textContent = `${range[0].toFixed(3)} \u2013 ${range[1].toFixed(3)}`;
  showBudget(null);
  slider.addEventListener('input', () => showBudget(Number(slider.value)));
  slider.addEventListener('change', () => {
    setBudget(Number(slider.value)).catch((error) => setStatus(error.message, true));
  });
  $('budget-default').addEventListener('click', () => {
    setBudget(null).catch((error) => setStatus(error.message, true));
  });
  $('knob').hidden = false;
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
  await setupKnob(manifest);
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
  if (state.knob && params.has('budget')) {  // ?budget=0.4: the first run at that budget.
    const budget = Number(params.get('budget'));
    lookupBudget(state.knob.tables[state.knob.models[0]], budget);  // RangeError
    state.knob.budget = budget;
    $('budget').value = String(budget);
    showBudget(budget);
  }
  $('run').disabled = false;
  $('run').addEventListener('click', () => runFromControls().catch(() => {}));
  setStatus(statusText());
}

const ready = setup().catch((error) => {
  setStatus(`Cannot start: ${error.message}`, true);
  throw error;
});

window.lcnetDemo = {ready, benchmark, runFromControls, setBudget, idle, entriesFor, state};
