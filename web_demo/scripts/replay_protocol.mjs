#!/usr/bin/env node
// Replays scripted runners through the page's protocol and summary (web_demo/src/protocol.js)
// and prints what they made of them, for tests/apps/test_web_demo.py to compare with Python's
// compare_models on the same scripts.
//
//   node web_demo/scripts/replay_protocol.mjs cases.json
//
// cases.json: [{numImages, repeats, chunk, reference, labels, scripts: {model: {call_ns,
// gate, flops, logits}}}]; each run call of a model takes the next duration of its script.

import {readFileSync} from 'node:fs';

import {runProtocol, summarize} from '../src/protocol.js';

const cases = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const results = [];
for (const testCase of cases) {
  const trace = [];
  const position = {};
  const runOne = async (model, index) => {
    const script = testCase.scripts[model];
    position[model] = (position[model] ?? 0) + 1;
    trace.push([model, index]);
    const gate = Float32Array.from(script.gate[index]);
    return {
      ms: script.call_ns[position[model] - 1] / 1e6,
      outputs: {
        logits: Float32Array.from(script.logits[index]),
        gate,
        kept_groups: new Float32Array(gate.length),
        realized_flops: Float32Array.of(script.flops[index]),
      },
    };
  };
  const perImage = await runProtocol({
    entries: Object.keys(testCase.scripts), numImages: testCase.numImages,
    repeats: testCase.repeats, chunk: testCase.chunk, labels: testCase.labels, runOne,
  });
  results.push({trace, perImage, summary: summarize(perImage, testCase.reference)});
}
process.stdout.write(JSON.stringify(results));
