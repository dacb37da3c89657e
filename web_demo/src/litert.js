// LiteRT.js (WASM + XNNPACK on the CPU) for lcnet-tf models: loading and one timed invoke.
//
// Pitfalls handled here on purpose (measured with @litertjs/core 2.5.3, Chromium 156):
// - Inputs go as a record by name. The signature's positional order is alphabetical
//   (`force_gates_open` before `image`), not the order of docs/tflite_signature.md.
// - A model with constant outputs (a static model's `gate`, `kept_groups`,
//   `realized_flops`) logs one line per invoke through the WASM module's `printErr`; to
//   the console that cost +50% of a static ResNet-20's time. `printErr` (and `print`) are
//   replaced before the module loads: lines are counted, the first few kept.
// - Every output tensor is deleted by hand (LiteRT.js memory is manual); input tensors
//   are made once per image and deleted after its repeats.
// - A budget knob file (docs/tflite_signature.md, "Budget knob files") has a second
//   signature, `serve_budget` (inputs `image` and `decisions`), run through
//   `compiled.signatures.serve_budget.run({image, decisions})`. Its table is TFLite
//   metadata, which LiteRT.js does not expose: the file's bytes are fetched here, the table
//   read from them (knob.js), and the same bytes compiled (`loadAndCompile(Uint8Array)`).
// - The single-thread build is the default. The threaded build (threads > 1) needs
//   cross-origin isolation, and with 2 threads it crashed the page when a model was
//   deleted (3 of 3 tries): compiled models are therefore never deleted, only cached.

import {loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';

import {BudgetTableError, findBudgetTable} from './knob.js';

export const WASM_DIR = new URL('../node_modules/@litertjs/core/wasm/', import.meta.url).href;
export const OUTPUT_NAMES = ['logits', 'gate', 'kept_groups', 'realized_flops'];
export const IMAGE_INPUT = 'image';
export const FORCE_INPUT = 'force_gates_open';

/** What the WASM module printed (stdout and stderr), kept out of the console. */
export const wasmLog = {lines: 0, first: [], last: ''};

function capture(text) {
  wasmLog.lines += 1;
  wasmLog.last = String(text);
  if (wasmLog.first.length < 10) wasmLog.first.push(wasmLog.last);
}

let loaded = null;

/**
 * Loads the LiteRT.js WASM module once per page.
 *
 * @param {{threads?: number}} options threads > 1 loads the threaded build.
 * @return {Promise<{threads: number, build: string}>}
 */
export function initLiteRt({threads = 1} = {}) {
  if (loaded) return loaded;
  const threaded = threads > 1;
  if (threaded && !self.crossOriginIsolated) {
    return Promise.reject(new Error(
        'The threaded LiteRT.js build needs cross-origin isolation (COOP/COEP headers ' +
        'and a secure context: https or localhost).'));
  }
  // LiteRT.js passes `self.Module` to the Emscripten factory (@litertjs/wasm-utils):
  // settings made here exist before the first line is printed.
  self.Module = {print: capture, printErr: capture};
  loaded = loadLiteRt(WASM_DIR, {threads: threaded}).then(() => ({
    threads,
    build: threaded ? 'threaded' : 'single-thread',
  }));
  return loaded;
}

/**
 * One compiled model: its "serve" signature and, for a budget knob file, its "serve_budget"
 * signature; inputs by name, outputs read then deleted.
 */
export class ModelRunner {
  /**
   * Fetches a .tflite file, reads its budget table (if any) and compiles it.
   *
   * @param {string} url the .tflite file.
   * @param {{threads?: number}} options CPU threads (1 = one phone big core).
   */
  static async load(url, {threads = 1} = {}) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const bytes = new Uint8Array(await response.arrayBuffer());
    return ModelRunner.fromBytes(bytes, {threads, name: url.split('/').pop()});
  }

  /**
   * @param {Uint8Array} bytes the whole .tflite file (LiteRT.js copies it into WASM memory).
   * @param {{threads?: number, name?: string}} options name: for messages.
   */
  static async fromBytes(bytes, {threads = 1, name = 'model'} = {}) {
    let budgetTable = null;
    let budgetTableError = null;
    try {
      budgetTable = findBudgetTable(bytes);  // null: not a knob file.
    } catch (error) {
      if (!(error instanceof BudgetTableError)) throw error;
      budgetTableError = `${name}: ${error.message}`;
    }
    const compiled = await loadAndCompile(bytes, {
      accelerator: 'wasm',
      cpuOptions: {numThreads: threads},
    });
    return new ModelRunner(compiled, {budgetTable, budgetTableError, name});
  }

  /**
   * @param {object} compiled a LiteRT.js CompiledModel.
   * @param {{budgetTable?: ?object, budgetTableError?: ?string, name?: string}} knob the
   *     file's budget table (knob.js) or why it could not be read.
   */
  constructor(compiled, {budgetTable = null, budgetTableError = null, name = 'model'} = {}) {
    this.compiled = compiled;
    this.name = name;
    this.signatureKeys = Object.keys(compiled.signatures);
    this.signature = compiled.signatures.serve ?? Object.values(compiled.signatures)[0];
    this.inputs = ModelRunner.checkSignature(this.signature, [IMAGE_INPUT]);
    this.hasForceInput = FORCE_INPUT in this.inputs;
    this.imageShape = Array.from(this.inputs[IMAGE_INPUT].shape);
    this.imageDtype = this.inputs[IMAGE_INPUT].dtype;
    // A knob file: its table and its second signature (else null, with the reason).
    this.budgetTable = null;
    this.budgetSignature = null;
    this.budgetTableError = budgetTableError;
    if (budgetTable) {
      try {
        this.setBudgetTable(budgetTable);
      } catch (error) {
        this.budgetTableError = `${name}: ${error.message}`;
      }
    }
  }

  /** The inputs of a signature by name; throws unless it has `inputs` and the outputs. */
  static checkSignature(signature, inputs) {
    const details = Object.fromEntries(signature.getInputDetails().map((d) => [d.name, d]));
    const outputs = signature.getOutputDetails().map((d) => d.name);
    const missing = inputs.filter((n) => !(n in details))
        .concat(OUTPUT_NAMES.filter((n) => !outputs.includes(n)));
    if (missing.length) {
      throw new Error(`not an lcnet-tf model: signature "${signature.key}" lacks ` +
                      `${missing.join(', ')} (docs/tflite_signature.md)`);
    }
    return details;
  }

  setBudgetTable(table) {
    const signature = this.compiled.signatures[table.signature];
    if (!signature) {
      throw new Error(`its lcnet_budget_table names the signature "${table.signature}", ` +
                      `the file has ${JSON.stringify(this.signatureKeys)}`);
    }
    const inputs = ModelRunner.checkSignature(signature, [IMAGE_INPUT, table.input]);
    const shape = Array.from(inputs[table.input].shape);
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== table.decision_names.length || inputs[table.input].dtype !== 'float32') {
      throw new Error(`input "${table.input}" of "${table.signature}" is ` +
                      `${inputs[table.input].dtype} [${shape}], the table has ` +
                      `${table.decision_names.length} decision(s) ` +
                      `${JSON.stringify(table.decision_names)} (float32)`);
    }
    this.budgetTable = table;
    this.budgetSignature = signature;
    this.budgetInputs = inputs;
    this.decisionsShape = shape;
  }

  /** Whether the file is a usable budget knob file. */
  get isKnob() {
    return this.budgetSignature !== null;
  }

  /**
   * Input tensors for one image (pixels 0-255, H*W*3 uint8), by name.
   *
   * @param {Uint8Array} pixels
   * @param {{forceOpen?: boolean, decisions?: ?number[]}} options forceOpen: set
   *     `force_gates_open` to 1 (files exported with it only); decisions: the inputs of the
   *     knob signature "serve_budget" with these decision values (`lookupBudget`).
   */
  makeInputs(pixels, {forceOpen = false, decisions = null} = {}) {
    const knob = decisions !== null && decisions !== undefined;
    if (knob && !this.isKnob) {
      throw new Error(`${this.name} is not a budget knob file` +
                      (this.budgetTableError ? ` (${this.budgetTableError})` : ''));
    }
    const details = knob ? this.budgetInputs : this.inputs;
    if (forceOpen && !(FORCE_INPUT in details)) {
      throw new Error('this model has no force_gates_open input: export it with ' +
                      'to_tflite(..., force_input=True) (python -m tflite.serve_demo --export)');
    }
    const data = this.imageDtype === 'uint8' ? Uint8Array.from(pixels) : Float32Array.from(pixels);
    const inputs = {[IMAGE_INPUT]: new Tensor(data, this.imageShape)};
    if (FORCE_INPUT in details) {
      // Always set: an unset input holds whatever memory it got.
      inputs[FORCE_INPUT] = new Tensor(new Float32Array([forceOpen ? 1 : 0]), [1]);
    }
    if (knob) {
      inputs[this.budgetTable.input] = new Tensor(Float32Array.from(decisions),
                                                  this.decisionsShape);
    }
    return inputs;
  }

  /**
   * One invoke; only `signature.run` is timed (as `invoke()` in TFLiteRunner.run).
   *
   * @param {Object<string, Tensor>} inputs from `makeInputs`.
   * @param {{knob?: boolean}} options knob: run "serve_budget" (inputs made with decisions).
   * @return {Promise<{ms: number, outputs: Object<string, Float32Array>}>}
   */
  async run(inputs, {knob = false} = {}) {
    const signature = knob ? this.budgetSignature : this.signature;
    const start = performance.now();
    const results = await signature.run(inputs);
    const ms = performance.now() - start;
    const outputs = {};
    try {
      for (const name of OUTPUT_NAMES) outputs[name] = results[name].toTypedArray();
    } finally {
      for (const tensor of Object.values(results)) tensor.delete();
    }
    return {ms, outputs};
  }

  static deleteInputs(inputs) {
    for (const tensor of Object.values(inputs)) tensor.delete();
  }
}

/** Smallest nonzero step of performance.now() seen in a short busy loop (ms). */
export function timerResolutionMs(samples = 2000) {
  let smallest = Infinity;
  let last = performance.now();
  for (let i = 0; i < samples; i++) {
    const now = performance.now();
    if (now > last) {
      smallest = Math.min(smallest, now - last);
      last = now;
    }
  }
  return smallest;
}
