#!/usr/bin/env node
// Prints a .tflite file's budget table as the page reads it (web_demo/src/knob.js) and what
// given budgets look up to; one JSON object on stdout. A file without a table prints
// {"knob": false, "message": ...}.
//
//   node web_demo/scripts/read_knob.mjs model.tflite [--budgets 0.3,0.35,NaN,9]
//
// Used by tests/apps/test_web_demo.py to hold the page's reader to the Python one
// (lcnet_tf.export.read_budget_table, BudgetTable.lookup).

import {readFileSync} from 'node:fs';
import {parseArgs} from 'node:util';

import {lookupBudget, NotAKnobFileError, readBudgetTable, readMetadata} from '../src/knob.js';

const {values: args, positionals} = parseArgs({
  allowPositionals: true,
  options: {budgets: {type: 'string', default: ''}},
});
if (positionals.length !== 1) {
  console.error('usage: read_knob.mjs FILE.tflite [--budgets b1,b2,...]');
  process.exit(2);
}
const path = positionals[0];
const bytes = new Uint8Array(readFileSync(path));
const metadata = readMetadata(bytes).map((entry) => ({name: entry.name, buffer: entry.buffer,
                                                     bytes: entry.data.length}));
let table;
try {
  table = readBudgetTable(bytes, path);
} catch (error) {
  if (!(error instanceof NotAKnobFileError)) throw error;
  process.stdout.write(JSON.stringify({knob: false, message: error.message, metadata}));
  process.exit(0);
}
const lookups = args.budgets.split(',').filter(Boolean).map((text) => {
  const budget = Number(text);
  try {
    return {input: text, ...lookupBudget(table, budget)};
  } catch (error) {
    return {input: text, error: `${error.name}: ${error.message}`};
  }
});
process.stdout.write(JSON.stringify({knob: true, table, lookups, metadata}));
