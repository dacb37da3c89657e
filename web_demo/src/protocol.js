// The benchmark protocol of lcnet_tf.export.benchmark.compare_models, in the browser.
//
// Pure functions (no DOM, no LiteRT): the page passes `runOne`, and node's test runner
// checks the statistics against NumPy's conventions (web_demo/test/protocol.test.mjs).

/** Median (NumPy: mean of the two middle values for an even count). */
export function median(values) {
  return percentile(values, 50);
}

/** NumPy's default `np.percentile` (linear interpolation between closest ranks). */
export function percentile(values, q) {
  if (!values.length) throw new Error('percentile of no values');
  const sorted = Float64Array.from(values).sort();
  const position = (q / 100) * (sorted.length - 1);
  const low = Math.floor(position);
  const high = Math.min(low + 1, sorted.length - 1);
  const t = position - low;
  const diff = sorted[high] - sorted[low];
  // NumPy's _lerp: from the nearer end, so that t = 1 gives the upper value exactly.
  return t >= 0.5 ? sorted[high] - diff * (1 - t) : sorted[low] + diff * t;
}

export function mean(values) {
  let total = 0;
  for (const value of values) total += value;
  return total / values.length;
}

/** `latency_stats`: mean, p50 and p90 of per-image latencies (ms). */
export function latencyStats(latencyMs) {
  return {mean: mean(latencyMs), p50: percentile(latencyMs, 50), p90: percentile(latencyMs, 90)};
}

export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/**
 * Runs every entry on every image, interleaved per chunk, as compare_models does.
 *
 * Warm-up: `warmup` (5) untimed invokes per entry, cycling over the images, and in the
 * browser more until `warmupMs` have passed: after 5 warm-up invokes only, the first 25
 * images of an LC ResNet-20 took 4x their later time in Chromium 156 (@litertjs/core
 * 2.5.3; not profiled: V8 optimizes WebAssembly while it runs, and IF branches not yet
 * taken are cold). Then, chunk after chunk, each entry runs one untimed
 * invoke (its caches warm again) and the chunk's images, each `repeats` times; the image's
 * latency is the median of its repeats. Outputs are those of the image's last repeat.
 *
 * @param {object} options
 * @param {string[]} options.entries names of the entries (models, or a model with its gates
 *     forced open), in the order they run within a chunk.
 * @param {number} options.numImages images 0..numImages-1.
 * @param {number} options.repeats invokes per image and entry (median).
 * @param {number} options.chunk images per interleaving chunk.
 * @param {(entry: string, index: number) => Promise<{ms: number, outputs: object}>} options.runOne
 *     one invoke; outputs holds Float32Arrays `logits`, `gate`, `kept_groups`, `realized_flops`.
 * @param {number[]} options.labels true labels.
 * @param {number} [options.warmup] untimed invokes per entry before timing (5).
 * @param {number} [options.warmupMs] warm-up of each entry lasts at least this long (0).
 * @param {(done: number, total: number) => Promise<void>} [options.onChunk] called between
 *     chunks (outside every timed region), e.g. to repaint a progress bar.
 * @return {Promise<Object<string, object>>} per entry: arrays latency_ms, flops, predicted,
 *     correct, gate, kept_groups, logits (one element per image).
 */
export async function runProtocol({entries, numImages, repeats, chunk, runOne, labels,
                                   onChunk, warmup = 5, warmupMs = 0}) {
  if (!(numImages > 0 && repeats > 0 && chunk > 0)) {
    throw new Error(`expected numImages, repeats and chunk > 0 (got ${numImages}, ${repeats}, ` +
                    `${chunk})`);
  }
  const perImage = {};
  for (const entry of entries) {
    perImage[entry] = {latency_ms: [], flops: [], predicted: [], correct: [], gate: [],
                       kept_groups: [], logits: []};
  }
  for (const entry of entries) {  // Warm-up (allocations, XNNPACK packing, WASM tier-up).
    const start = performance.now();
    const invokes = Math.min(warmup, numImages);  // compare_models: images[:5]
    for (let count = 0; count < invokes || performance.now() - start < warmupMs; count++) {
      await runOne(entry, count % numImages);
    }
  }
  for (let start = 0; start < numImages; start += chunk) {
    const stop = Math.min(start + chunk, numImages);
    for (const entry of entries) {
      await runOne(entry, start);  // Untimed: caches warm for this model again.
      const record = perImage[entry];
      for (let index = start; index < stop; index++) {
        const times = [];
        let outputs;
        for (let r = 0; r < repeats; r++) {
          const result = await runOne(entry, index);
          times.push(result.ms);
          outputs = result.outputs;
        }
        const predicted = argmax(outputs.logits);
        record.latency_ms[index] = median(times);
        record.flops[index] = outputs.realized_flops[0];
        record.predicted[index] = predicted;
        record.correct[index] = predicted === labels[index];
        record.gate[index] = Array.from(outputs.gate);
        record.kept_groups[index] = Array.from(outputs.kept_groups);
        record.logits[index] = Array.from(outputs.logits);
      }
    }
    if (onChunk) await onChunk(stop, numImages);
  }
  return perImage;
}

/**
 * The summary table of compare_models: every entry against `reference` (a static model).
 *
 * @return {Object<string, object>} per entry: accuracy, mean_flops, flops_fraction,
 *     latency_ms {mean, p50, p90}, speedup, flops_speedup, efficiency, block_run_rate.
 */
export function summarize(perImage, reference) {
  if (!(reference in perImage)) throw new Error(`reference ${reference} was not run`);
  const refLatency = mean(perImage[reference].latency_ms);
  const refFlops = mean(perImage[reference].flops);
  const summary = {};
  for (const [name, record] of Object.entries(perImage)) {
    const latencySpeedup = refLatency / mean(record.latency_ms);
    const flopsSpeedup = refFlops / mean(record.flops);
    summary[name] = {
      accuracy: mean(record.correct.map(Number)),
      mean_flops: mean(record.flops),
      flops_fraction: mean(record.flops) / refFlops,
      latency_ms: latencyStats(record.latency_ms),
      speedup: latencySpeedup,
      flops_speedup: flopsSpeedup,
      efficiency: latencySpeedup / flopsSpeedup,
      block_run_rate: mean(record.gate.flat()),
    };
  }
  return summary;
}
