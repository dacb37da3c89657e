// Rendering of a benchmark run: the side-by-side table, the scatter, the per-image cards.

import {decisionText, runRates} from './units.js';

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2',
                '#7f7f7f', '#bcbd22', '#17becf'];

function cell(tag, text, attrs = {}) {
  const element = document.createElement(tag);
  element.textContent = text;
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  return element;
}

const percent = (rate) => `${(100 * rate).toFixed(0)}%`;

/**
 * The table of `python -m tflite.benchmark` (format_table), one row per entry, and how often
 * the decisions ran: "blocks run" (a cascade's: among the images whose stage ran) and, when
 * an entry is a cascade, "stages run" (each stage's rate, e.g. "100/42%").
 *
 * @param {Object<string, object>} summary per entry (protocol.js `summarize`).
 * @param {{perImage?: object, layouts?: Object<string, object>}} details per entry: its
 *     records and the layout of its units (units.js `layoutOf`).
 */
export function renderTable(table, summary, {perImage = {}, layouts = {}} = {}) {
  table.replaceChildren();
  const rates = {};
  for (const name of Object.keys(summary)) {
    const layout = layouts[name];
    if (layout && layout.stages.length && perImage[name]) {
      rates[name] = runRates(layout, perImage[name].gate);
    }
  }
  const withStages = Object.keys(rates).length > 0;
  const head = table.createTHead().insertRow();
  for (const title of ['model', 'acc', 'MFLOPs', 'FLOPs %', 'mean ms', 'p50 ms', 'p90 ms',
                       'speed-up', 'eff.', ...(withStages ? ['stages run'] : []),
                       'blocks run']) {
    head.appendChild(cell('th', title));
  }
  const body = table.createTBody();
  for (const [name, row] of Object.entries(summary)) {
    const tr = body.insertRow();
    tr.dataset.model = name;
    const rate = rates[name];
    const stagesRun = rate ?
        rate.stages.map((r) => (100 * r).toFixed(0)).join('/') + '%' : '\u2014';
    const blocksRun = rate ? (rate.blocks === null ? '\u2014' : percent(rate.blocks)) :
        percent(row.block_run_rate);
    const values = [
      name,
      row.accuracy.toFixed(4),
      (row.mean_flops / 1e6).toFixed(2),
      (100 * row.flops_fraction).toFixed(1) + '%',
      row.latency_ms.mean.toFixed(3),
      row.latency_ms.p50.toFixed(3),
      row.latency_ms.p90.toFixed(3),
      row.speedup.toFixed(2) + 'x',
      row.efficiency.toFixed(2),
      ...(withStages ? [stagesRun] : []),
      blocksRun,
    ];
    for (const value of values) tr.appendChild(cell('td', value));
  }
}

/**
 * `same_precision_rows`: each dynamic model (a knob file at a budget too, "dynamic@0.400")
 * against the static model of its precision.
 */
export function samePrecisionText(summary) {
  const parts = [];
  for (const [name, row] of Object.entries(summary)) {
    const [model, variant] = name.split('@');
    if (!model.startsWith('dynamic') || variant === 'open') continue;
    const staticName = 'static' + model.slice('dynamic'.length);
    const staticRow = summary[staticName];
    if (!staticRow) continue;
    const speedup = staticRow.latency_ms.mean / row.latency_ms.mean;
    const flopsSpeedup = staticRow.mean_flops / row.mean_flops;
    parts.push(`${name} vs ${staticName}: speed-up ${speedup.toFixed(2)}x, ` +
               `efficiency ${(speedup / flopsSpeedup).toFixed(2)}`);
  }
  return parts.join('; ');
}

/** "offset = -7.195" (one per decision, in the table's order). */
export function decisionsText(names, values) {
  return names.map((name, k) => `${name} = ${values[k].toFixed(3)}`).join(', ');
}

/**
 * The budget knob's runs, one row per knob model and budget: the decisions the budget looked
 * up to, the FLOPs the table expects, and the accuracy, realized FLOPs and latency measured.
 *
 * @param {object[]} runs main.js `recordKnobRuns`: model, entry, budget, isDefault,
 *     decisionNames, decisions, exact, expectedFlops, referenceFlops, realizedFlops, accuracy,
 *     latencyMs {mean, p50, p90}, reference, speedup.
 */
export function renderKnobRuns(table, runs) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const title of ['model', 'budget', 'decisions', 'expected MFLOPs', 'realized MFLOPs',
                       'realized budget', 'acc', 'mean ms', 'p50 ms', 'speed-up']) {
    head.appendChild(cell('th', title));
  }
  const body = table.createTBody();
  for (const run of runs) {
    const tr = body.insertRow();
    tr.dataset.model = run.model;
    tr.dataset.budget = run.isDefault ? 'default' : String(run.budget);
    tr.dataset.realizedFlops = String(run.realizedFlops);
    tr.dataset.expectedFlops = String(run.expectedFlops);
    const how = run.isDefault ? ' (serve)' : run.exact ? ' (row)' : '';
    const values = [
      run.model,
      (run.isDefault ? `default ${run.budget.toFixed(3)}` : run.budget.toFixed(3)) + how,
      decisionsText(run.decisionNames, run.decisions),
      (run.expectedFlops / 1e6).toFixed(2),
      (run.realizedFlops / 1e6).toFixed(2),
      (100 * run.realizedFlops / run.referenceFlops).toFixed(1) + '%',
      run.accuracy.toFixed(4),
      run.latencyMs.mean.toFixed(3),
      run.latencyMs.p50.toFixed(3),
      `${run.speedup.toFixed(2)}x vs ${run.reference}`,
    ];
    for (const value of values) tr.appendChild(cell('td', value));
  }
}

/**
 * Latency (ms) against realized MFLOPs, one point per image and entry; `curves` (the budget
 * knob's runs) as lines through their mean points, labelled with their budgets.
 *
 * @param {{curves?: {name: string, points: {flops: number, ms: number, label: string}[]}[]}}
 *     options
 */
export function drawScatter(canvas, perImage, {curves = []} = {}) {
  const context = canvas.getContext('2d');
  const {width, height} = canvas;
  const margin = {left: 56, right: 12, top: 12, bottom: 40};
  context.fillStyle = '#fff';
  context.fillRect(0, 0, width, height);
  const names = Object.keys(perImage);
  const curvePoints = curves.flatMap((curve) => curve.points);
  const xs = names.flatMap((n) => perImage[n].flops.map((f) => f / 1e6))
      .concat(curvePoints.map((p) => p.flops / 1e6));
  const ys = names.flatMap((n) => perImage[n].latency_ms).concat(curvePoints.map((p) => p.ms));
  const xMax = Math.max(...xs) * 1.05 || 1;
  const yMax = Math.max(...ys) * 1.05 || 1;
  const px = (x) => margin.left + (x / xMax) * (width - margin.left - margin.right);
  const py = (y) => height - margin.bottom - (y / yMax) * (height - margin.top - margin.bottom);
  context.strokeStyle = '#888';
  context.fillStyle = '#333';
  context.font = '11px sans-serif';
  context.beginPath();
  context.moveTo(margin.left, margin.top);
  context.lineTo(margin.left, height - margin.bottom);
  context.lineTo(width - margin.right, height - margin.bottom);
  context.stroke();
  for (let i = 0; i <= 4; i++) {
    const x = (xMax * i) / 4;
    const y = (yMax * i) / 4;
    context.textAlign = 'center';
    context.fillText(x.toFixed(1), px(x), height - margin.bottom + 14);
    context.textAlign = 'right';
    context.fillText(y.toFixed(2), margin.left - 4, py(y) + 4);
  }
  context.textAlign = 'center';
  context.fillText('realized MFLOPs per image (1 MAC = 1 FLOP)', (width + margin.left) / 2,
                   height - 6);
  context.save();
  context.translate(12, (height - margin.bottom) / 2);
  context.rotate(-Math.PI / 2);
  context.fillText('latency per image (ms)', 0, 0);
  context.restore();
  names.forEach((name, k) => {
    context.fillStyle = COLORS[k % COLORS.length];
    context.globalAlpha = 0.6;
    const record = perImage[name];
    record.flops.forEach((flops, i) => {
      context.fillRect(px(flops / 1e6) - 2, py(record.latency_ms[i]) - 2, 4, 4);
    });
    context.globalAlpha = 1;
    context.textAlign = 'left';
    context.fillRect(margin.left + 10, margin.top + 4 + 14 * k, 8, 8);
    context.fillStyle = '#333';
    context.fillText(name, margin.left + 22, margin.top + 12 + 14 * k);
  });
  curves.forEach((curve, k) => {
    const points = curve.points.slice().sort((a, b) => a.flops - b.flops);
    context.strokeStyle = '#111';
    context.fillStyle = '#111';
    context.lineWidth = 1.5;
    context.beginPath();
    points.forEach((p, i) => {
      const [x, y] = [px(p.flops / 1e6), py(p.ms)];
      if (i === 0) context.moveTo(x, y); else context.lineTo(x, y);
    });
    context.stroke();
    context.lineWidth = 1;
    context.textAlign = 'left';
    for (const p of points) {
      context.beginPath();
      context.arc(px(p.flops / 1e6), py(p.ms), 4, 0, 2 * Math.PI);
      context.fill();
      context.fillText(p.label, px(p.flops / 1e6) + 6, py(p.ms) - 6);
    }
    const legendY = margin.top + 12 + 14 * (names.length + k);
    context.fillRect(margin.left + 10, legendY - 4, 8, 2);
    context.fillText(`${curve.name}: mean per budget`, margin.left + 22, legendY);
  });
}

function drawImage(canvas, pixels, [height, width]) {
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    image.data[4 * i] = pixels[3 * i];
    image.data[4 * i + 1] = pixels[3 * i + 1];
    image.data[4 * i + 2] = pixels[3 * i + 2];
    image.data[4 * i + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

function stripOf(label) {
  const strip = document.createElement('div');
  strip.className = 'strip';
  if (label) strip.appendChild(cell('span', label, {class: 'strip-label'}));
  return strip;
}

/**
 * The decisions of one image: a strip of stages (a cascade's: ran or skipped), then a strip of
 * blocks per gated stage (or the network's), each ran (number: channel groups kept), skipped,
 * or not run (its stage did not run).
 */
function decisionStrips(layout, gate, keptGroups) {
  const strips = [];
  if (layout.stages.length) {
    const strip = stripOf('stages');
    layout.stages.forEach((stage, index) => {
      const stageRan = gate[stage.column] > 0.5;
      strip.appendChild(cell('span', String(index),
                             {class: `cell stage ${stageRan ? 'ran' : 'skipped'}`,
                              title: `${stage.name}: ${stageRan ? 'ran' : 'skipped'}`}));
    });
    strips.push(strip);
  }
  for (const group of layout.groups) {
    const owner = layout.stages.find((stage) => stage.name === group.stage);
    const ownerRan = !owner || gate[owner.column] > 0.5;
    const strip = stripOf(group.stage);
    for (const unit of group.cells) {
      const unitRan = ownerRan && gate[unit.column] > 0.5;
      const groups = keptGroups[unit.column];
      const state = !ownerRan ? 'idle' : unitRan ? 'ran' : 'skipped';
      const title = !ownerRan ? `${unit.name}: not run (${group.stage} skipped)` :
          `${unit.name}: ${unitRan ? 'ran' : 'skipped'}` +
              (unitRan && groups ? `, ${groups} channel group(s)` : '');
      strip.appendChild(cell('span', unitRan && groups ? String(groups) : '',
                             {class: `cell ${state}`, title}));
    }
    strips.push(strip);
  }
  return strips;
}

/**
 * One card per image: picture, true and predicted class, what ran (a cascade's stages, then
 * the blocks: ran or skipped, with the channel groups kept), realized FLOPs and latency of
 * the record's entry. `layout` (units.js `layoutOf`) names the columns of its gate output.
 */
export function renderImages(grid, {record, layout, reference, referenceName, pixelsOf, shape,
                                    labels, classNames, maxCards = 200}) {
  grid.replaceChildren();
  const className = (k) => (classNames && classNames[k]) ?? String(k);
  const count = Math.min(record.latency_ms.length, maxCards);
  for (let index = 0; index < count; index++) {
    const card = document.createElement('div');
    card.className = 'card';
    card.dataset.index = String(index);
    const canvas = document.createElement('canvas');
    drawImage(canvas, pixelsOf(index), shape);
    card.appendChild(canvas);
    const predicted = record.predicted[index];
    card.appendChild(cell('div', `true: ${className(labels[index])}`));
    card.appendChild(cell('div', `pred: ${className(predicted)}`,
                          record.correct[index] ? {} : {class: 'wrong'}));
    const flops = record.flops[index];
    const percent = reference ? ` (${(100 * flops / reference.flops[index]).toFixed(0)}%)` : '';
    card.appendChild(cell('div', `${(flops / 1e6).toFixed(2)} MFLOPs${percent}`));
    const refMs = reference ?
        ` (${referenceName} ${reference.latency_ms[index].toFixed(3)})` : '';
    card.appendChild(cell('div', `${record.latency_ms[index].toFixed(3)} ms${refMs}`));
    const gate = record.gate[index];
    const words = decisionText(layout, gate);
    if (words) card.appendChild(cell('div', words, {class: 'decisions'}));
    for (const strip of decisionStrips(layout, gate, record.kept_groups[index])) {
      card.appendChild(strip);
    }
    grid.appendChild(card);
  }
}
