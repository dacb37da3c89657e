// node --test web_demo/test/  (run by tests/apps/test_web_demo.py)
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {latencyStats, median, percentile, runProtocol, summarize} from '../src/protocol.js';

test('percentile interpolates linearly like numpy.percentile', () => {
  // numpy: np.percentile([3, 1, 4, 1, 5], [50, 90]) -> [3.0, 4.6]
  assert.equal(percentile([3, 1, 4, 1, 5], 50), 3);
  assert.ok(Math.abs(percentile([3, 1, 4, 1, 5], 90) - 4.6) < 1e-12);
  assert.equal(median([4, 1, 3, 2]), 2.5);  // even count: mean of the middle two
  assert.equal(median([7]), 7);
  const stats = latencyStats([1, 2, 3, 4]);  // numpy: 2.5, 2.5, 3.7
  assert.equal(stats.mean, 2.5);
  assert.equal(stats.p50, 2.5);
  assert.ok(Math.abs(stats.p90 - 3.7) < 1e-12);
  assert.throws(() => percentile([], 50));
});

test('runProtocol interleaves per chunk after a warm-up and takes the median of repeats', async () => {
  const calls = [];
  const outputs = (flops) => ({
    logits: new Float32Array([0, 1]), gate: new Float32Array([1, 0]),
    kept_groups: new Float32Array([0, 0]), realized_flops: new Float32Array([flops]),
  });
  let tick = 0;
  const perImage = await runProtocol({
    entries: ['a', 'b'], numImages: 5, repeats: 3, chunk: 2, labels: [1, 0, 1, 1, 1],
    warmup: 1,
    runOne: async (entry, index) => {
      calls.push(`${entry}${index}`);
      tick += 1;
      return {ms: entry === 'a' ? tick % 3 : 10, outputs: outputs(entry === 'a' ? 100 : 50)};
    },
  });
  // warm-up a0 b0; chunk [0, 2): a0 (untimed) a0 x3 a1 x3, then b likewise; ...
  assert.deepEqual(calls.slice(0, 9), ['a0', 'b0', 'a0', 'a0', 'a0', 'a0', 'a1', 'a1', 'a1']);
  assert.equal(calls.length, 2 + 2 * (3 + 5 * 3));
  assert.deepEqual(perImage.b.latency_ms, [10, 10, 10, 10, 10]);
  assert.ok(perImage.a.latency_ms.every((ms) => ms === 1));  // median of 0, 1, 2 in some order
  assert.deepEqual(perImage.a.correct, [true, false, true, true, true]);
  const summary = summarize(perImage, 'a');
  assert.equal(summary.b.flops_fraction, 0.5);
  assert.equal(summary.b.speedup, 0.1);
  assert.equal(summary.b.efficiency, 0.1 / 2);
  assert.equal(summary.a.block_run_rate, 0.5);
});
