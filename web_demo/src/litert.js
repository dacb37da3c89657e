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
// - The single-thread build is the default. The threaded build (threads > 1) needs
//   cross-origin isolation, and with 2 threads it crashed the page when a model was
//   deleted (3 of 3 tries): compiled models are therefore never deleted, only cached.

import {loadAndCompile, loadLiteRt, Tensor} from '@litertjs/core';

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

/** One compiled model: its "serve" signature, inputs by name, outputs read then deleted. */
export class ModelRunner {
  /**
   * @param {string} url the .tflite file.
   * @param {{threads?: number}} options CPU threads (1 = one phone big core).
   */
  static async load(url, {threads = 1} = {}) {
    const compiled = await loadAndCompile(url, {
      accelerator: 'wasm',
      cpuOptions: {numThreads: threads},
    });
    return new ModelRunner(compiled);
  }

  constructor(compiled) {
    this.compiled = compiled;
    this.signature = compiled.signatures.serve ?? Object.values(compiled.signatures)[0];
    this.inputs = Object.fromEntries(
        this.signature.getInputDetails().map((d) => [d.name, d]));
    const outputs = this.signature.getOutputDetails().map((d) => d.name);
    const missing = [IMAGE_INPUT].filter((n) => !(n in this.inputs))
        .concat(OUTPUT_NAMES.filter((n) => !outputs.includes(n)));
    if (missing.length) {
      throw new Error(`not an lcnet-tf model: missing ${missing.join(', ')} ` +
                      '(docs/tflite_signature.md)');
    }
    this.hasForceInput = FORCE_INPUT in this.inputs;
    this.imageShape = Array.from(this.inputs[IMAGE_INPUT].shape);
    this.imageDtype = this.inputs[IMAGE_INPUT].dtype;
  }

  /**
   * Input tensors for one image (pixels 0-255, H*W*3 uint8), by name.
   *
   * @param {Uint8Array} pixels
   * @param {boolean} forceOpen set `force_gates_open` to 1 (models exported with it only).
   */
  makeInputs(pixels, forceOpen = false) {
    if (forceOpen && !this.hasForceInput) {
      throw new Error('this model has no force_gates_open input: export it with ' +
                      'to_tflite(..., force_input=True) (python -m tflite.serve_demo --export)');
    }
    const data = this.imageDtype === 'uint8' ? Uint8Array.from(pixels) : Float32Array.from(pixels);
    const inputs = {[IMAGE_INPUT]: new Tensor(data, this.imageShape)};
    if (this.hasForceInput) {
      // Always set: an unset input holds whatever memory it got.
      inputs[FORCE_INPUT] = new Tensor(new Float32Array([forceOpen ? 1 : 0]), [1]);
    }
    return inputs;
  }

  /**
   * One invoke; only `signature.run` is timed (as `invoke()` in TFLiteRunner.run).
   *
   * @return {Promise<{ms: number, outputs: Object<string, Float32Array>}>}
   */
  async run(inputs) {
    const start = performance.now();
    const results = await this.signature.run(inputs);
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
