// node --test web_demo/test/  (run by tests/apps/test_web_demo.py)
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {
  BudgetTableError, budgetRange, commonBudgetRange, findBudgetTable, lookupBudget,
  NotAKnobFileError, parseBudgetTable, readBudgetTable, readMetadata, ROW_TOLERANCE,
} from '../src/knob.js';

// The example of docs/tflite_signature.md, "Budget knob files".
const DOC_TABLE = {
  format: 'lcnet_budget_table', version: 1,
  signature: 'serve_budget', input: 'decisions',
  decision_names: ['threshold_0'],
  reference_flops: 40555136,
  num_images: 5000,
  default: {budget: 0.395, decisions: [0.41], mean_flops: 16019000.0},
  rows: [{budget: 0.3, decisions: [0.12], mean_flops: 12166000.0},
         {budget: 0.4, decisions: [0.42], mean_flops: 16222000.0}],
};
// Two decisions (a cascade with a gated stage), three rows.
const CASCADE_TABLE = {
  ...DOC_TABLE,
  decision_names: ['threshold_0', 'stage1.offset'],
  default: {budget: 0.5, decisions: [0.3, 0.0], mean_flops: 2e7},
  rows: [{budget: 0.25, decisions: [0.1, -2.0], mean_flops: 1e7},
         {budget: 0.5, decisions: [0.3, 0.0], mean_flops: 2e7},
         {budget: 0.75, decisions: [0.6, 1.0], mean_flops: 3e7}],
};

/**
 * A minimal .tflite-shaped flatbuffer (the fields knob.js reads, laid out by hand, not by the
 * flatbuffers library): Model field 4 `buffers`, field 6 `metadata`; Buffer `data` inline, or
 * `offset`/`size` into bytes appended after the flatbuffer.
 *
 * @param {{buffers: ({data: Uint8Array}|{external: Uint8Array})[],
 *     metadata: {name: string, buffer: number}[]|null}} spec
 */
function buildTflite({buffers, metadata}) {
  const bytes = [];
  const align = (n) => { while (bytes.length % n) bytes.push(0); };
  const reserve = (n) => {
    const at = bytes.length;
    for (let i = 0; i < n; i++) bytes.push(0);
    return at;
  };
  const put = (at, value, size) => {
    let v = BigInt(value);
    for (let i = 0; i < size; i++) { bytes[at + i] = Number(v & 0xffn); v >>= 8n; }
  };
  const pointTo = (at, target) => put(at, target - at, 4);  // uoffset: forward only
  // A table: its vtable first, then the table (soffset = table - vtable), fields in slots.
  const table = (slots) => {  // slots: [{index, size}] -> {at, field: {index: position}}
    align(2);
    const numFields = Math.max(...slots.map((s) => s.index)) + 1;
    const vtable = reserve(4 + 2 * numFields);
    align(8);
    const at = reserve(4);
    const field = {};
    for (const slot of slots) {
      align(slot.size);
      field[slot.index] = reserve(slot.size);
      put(vtable + 4 + 2 * slot.index, field[slot.index] - at, 2);
    }
    put(vtable, 4 + 2 * numFields, 2);
    put(vtable + 2, bytes.length - at, 2);
    put(at, at - vtable, 4);
    return {at, field};
  };
  const vector = (count, elementSize) => {
    align(4);
    const at = reserve(4 + count * elementSize);
    put(at, count, 4);
    return at;
  };
  const root = reserve(4);
  bytes.push(...Buffer.from('TFL3'));
  const model = table([{index: 4, size: 4}, ...(metadata ? [{index: 6, size: 4}] : [])]);
  pointTo(root, model.at);
  const buffersVector = vector(buffers.length, 4);
  pointTo(model.field[4], buffersVector);
  const external = [];
  buffers.forEach((buffer, i) => {
    const entry = buffer.data ?
        table([{index: 0, size: 4}]) : table([{index: 1, size: 8}, {index: 2, size: 8}]);
    pointTo(buffersVector + 4 + 4 * i, entry.at);
    if (buffer.data) {
      const data = vector(buffer.data.length, 1);
      bytes.splice(data + 4, buffer.data.length, ...buffer.data);
      pointTo(entry.field[0], data);
    } else {
      external.push({entry, data: buffer.external});
    }
  });
  if (metadata) {
    const metadataVector = vector(metadata.length, 4);
    pointTo(model.field[6], metadataVector);
    metadata.forEach(({name, buffer}, i) => {
      const entry = table([{index: 0, size: 4}, {index: 1, size: 4}]);
      pointTo(metadataVector + 4 + 4 * i, entry.at);
      put(entry.field[1], buffer, 4);
      const encoded = Buffer.from(name, 'utf8');
      const string = vector(encoded.length + 1, 1);  // NUL-terminated, as flatbuffers writes
      bytes.splice(string + 4, encoded.length, ...encoded);
      put(string, encoded.length, 4);
      pointTo(entry.field[0], string);
    });
  }
  for (const {entry, data} of external) {  // After the flatbuffer, as in files over 2 GB.
    align(16);
    put(entry.field[1], bytes.length, 8);
    put(entry.field[2], data.length, 8);
    bytes.push(...data);
  }
  return new Uint8Array(bytes);
}

const utf8 = (value) => new Uint8Array(Buffer.from(
    typeof value === 'string' ? value : JSON.stringify(value), 'utf8'));
const knobFile = (table, {external = false} = {}) => buildTflite({
  buffers: [{data: new Uint8Array(0)}, {data: utf8('2.14.0')},
            external ? {external: utf8(table)} : {data: utf8(table)}],
  metadata: [{name: 'min_runtime_version', buffer: 1}, {name: 'lcnet_budget_table', buffer: 2}],
});

test('reads the table of a knob file, inline or at an offset after the flatbuffer', () => {
  for (const external of [false, true]) {
    const file = knobFile(DOC_TABLE, {external});
    const entries = readMetadata(file.buffer);  // An ArrayBuffer, as fetch() gives it.
    assert.deepEqual(entries.map((e) => [e.name, e.buffer]),
                     [['min_runtime_version', 1], ['lcnet_budget_table', 2]]);
    assert.equal(Buffer.from(entries[0].data).toString(), '2.14.0');
    assert.deepEqual(readBudgetTable(file), DOC_TABLE);
    assert.deepEqual(findBudgetTable(file), DOC_TABLE);
    assert.deepEqual(budgetRange(readBudgetTable(file)), [0.3, 0.4]);
  }
  // A view into a larger buffer (byteOffset > 0) reads the same.
  const file = knobFile(CASCADE_TABLE);
  const padded = new Uint8Array(file.length + 24);
  padded.set(file, 8);
  assert.deepEqual(readBudgetTable(padded.subarray(8, 8 + file.length)), CASCADE_TABLE);
});

test('a file without the entry is not a knob file', () => {
  const plain = buildTflite({buffers: [{data: new Uint8Array(0)}, {data: utf8('2.14.0')}],
                             metadata: [{name: 'min_runtime_version', buffer: 1}]});
  assert.equal(findBudgetTable(plain), null);
  assert.throws(() => readBudgetTable(plain, 'static.tflite'), (error) => {
    assert.ok(error instanceof NotAKnobFileError);
    assert.match(error.message, /^static\.tflite is not a budget knob file: it has no /);
    assert.match(error.message, /lcnet_budget_table/);
    return true;
  });
  const noMetadata = buildTflite({buffers: [{data: new Uint8Array(0)}], metadata: null});
  assert.deepEqual(readMetadata(noMetadata), []);
  assert.equal(findBudgetTable(noMetadata), null);
});

test('corrupt files and bad entries are errors that say what is wrong', () => {
  const file = knobFile(DOC_TABLE);
  assert.throws(() => readMetadata(file.subarray(0, 4)), /not a \.tflite file: 4 bytes/);
  assert.throws(() => readMetadata(file.subarray(0, 40)),
                (e) => e instanceof BudgetTableError &&
                    /outside the file's 40 bytes/.test(e.message));
  assert.throws(() => readMetadata('not bytes'), TypeError);
  const badIndex = buildTflite({buffers: [{data: new Uint8Array(0)}],
                                metadata: [{name: 'lcnet_budget_table', buffer: 5}]});
  assert.throws(() => findBudgetTable(badIndex), /names buffer 5, the file has 1/);
  const empty = buildTflite({buffers: [{data: new Uint8Array(0)}],
                             metadata: [{name: 'lcnet_budget_table', buffer: 0}]});
  assert.throws(() => findBudgetTable(empty), /its buffer \(0\) is empty/);
  const twice = buildTflite({buffers: [{data: new Uint8Array(0)}, {data: utf8(DOC_TABLE)}],
                             metadata: [{name: 'lcnet_budget_table', buffer: 1},
                                        {name: 'lcnet_budget_table', buffer: 1}]});
  assert.throws(() => findBudgetTable(twice), /2 metadata entries of that name/);
  const notJson = knobFile('{"format": ');
  assert.throws(() => findBudgetTable(notJson),
                (e) => e instanceof BudgetTableError && /not JSON/.test(e.message));
  assert.throws(() => parseBudgetTable(new Uint8Array([0xff, 0xfe])), /not UTF-8/);
});

test('the table is validated field by field', () => {
  const bad = (change, pattern) => assert.throws(
      () => parseBudgetTable(JSON.stringify({...DOC_TABLE, ...change})),
      (e) => e instanceof BudgetTableError && pattern.test(e.message));
  bad({format: 'other'}, /format must be "lcnet_budget_table", got "other"/);
  bad({version: 2}, /version 2: this reader knows version 1 only/);
  bad({signature: ''}, /signature must be a non-empty string/);
  bad({input: 3}, /input must be a non-empty string, got 3/);
  bad({decision_names: []}, /decision_names must be a non-empty list/);
  bad({reference_flops: 0}, /reference_flops must be > 0/);
  bad({num_images: 2.5}, /num_images must be a positive integer/);
  bad({rows: [DOC_TABLE.rows[0]]}, /rows must be a list of at least 2 rows/);
  bad({rows: [DOC_TABLE.rows[1], DOC_TABLE.rows[0]]},
      /strictly increasing budgets: rows\[0\]\.budget = 0\.4, rows\[1\]\.budget = 0\.3/);
  bad({rows: [DOC_TABLE.rows[0], {...DOC_TABLE.rows[0]}]}, /strictly increasing/);
  bad({rows: [DOC_TABLE.rows[0], {...DOC_TABLE.rows[1], decisions: [0.1, 0.2]}]},
      /rows\[1\]\.decisions must hold 1 number\(s\)/);
  bad({rows: [DOC_TABLE.rows[0], {...DOC_TABLE.rows[1], mean_flops: '1'}]},
      /rows\[1\]\.mean_flops must be a finite number, got "1"/);
  bad({default: {budget: null, decisions: [0.4], mean_flops: 1}},
      /default\.budget must be a finite number, got null/);
  bad({default: undefined}, /default must be an object/);
  assert.throws(() => parseBudgetTable('[1, 2]'), /expected a JSON object/);
  // Python's json.dumps writes NaN unquoted: not JSON.
  assert.throws(() => parseBudgetTable(JSON.stringify(DOC_TABLE).replace('0.12', 'NaN')),
                /not JSON/);
});

test('lookup: a row exactly, within 1e-9 of it too; between rows, linear interpolation', () => {
  const table = parseBudgetTable(JSON.stringify(CASCADE_TABLE));
  for (const [i, row] of CASCADE_TABLE.rows.entries()) {
    // The ends of the range too: 1e-9 beyond the last row is that row.
    for (const budget of [row.budget, row.budget + 0.9 * ROW_TOLERANCE,
                          row.budget - 0.9 * ROW_TOLERANCE]) {
      const found = lookupBudget(table, budget);
      assert.deepEqual(found, {budget, decisions: row.decisions, meanFlops: row.mean_flops,
                               exact: true, row: i});
    }
  }
  const middle = lookupBudget(table, 0.375);  // halfway between rows 0 and 1
  assert.equal(middle.exact, false);
  assert.equal(middle.row, null);
  assert.ok(Math.abs(middle.decisions[0] - 0.2) < 1e-15, middle.decisions);
  assert.ok(Math.abs(middle.decisions[1] + 1.0) < 1e-15, middle.decisions);
  assert.equal(middle.meanFlops, 1.5e7);
  // Python's BudgetTable.lookup, term for term: y0 + t * (y1 - y0), t = (b - b0) / (b1 - b0).
  const budget = 0.6180339887;
  const t = (budget - 0.5) / (0.75 - 0.5);
  const found = lookupBudget(table, budget);
  assert.deepEqual(found.decisions, [0.3 + t * (0.6 - 0.3), 0.0 + t * (1.0 - 0.0)]);
  assert.equal(found.meanFlops, 2e7 + t * (3e7 - 2e7));
  // Just outside the tolerance: interpolated, next to the row.
  const near = lookupBudget(table, 0.5 + 3 * ROW_TOLERANCE);
  assert.equal(near.exact, false);
  assert.ok(Math.abs(near.decisions[0] - 0.3) < 1e-8);
  // Monotone: every decision and the expected FLOPs grow with the budget.
  let previous = null;
  for (let step = 0; step <= 50; step++) {
    const current = lookupBudget(table, 0.25 + step * 0.01);
    if (previous) {
      assert.ok(current.meanFlops > previous.meanFlops);
      current.decisions.forEach((d, k) => assert.ok(d > previous.decisions[k]));
    }
    previous = current;
  }
});

test('lookup: a budget outside the rows, or not a finite number, names the value and the range',
     () => {
       const table = parseBudgetTable(JSON.stringify(DOC_TABLE));
       const cases = [[0.2999, 'budget=0.2999'], [0.4 + 2e-9, `budget=${0.4 + 2e-9}`],
                      [0.41, 'budget=0.41'], [NaN, 'budget=NaN'],
                      [Infinity, 'budget=Infinity'], [-Infinity, 'budget=-Infinity'],
                      ['0.35', 'budget="0.35"'], [undefined, 'budget=undefined'],
                      [null, 'budget=null'], [true, 'budget=true']];
       for (const [budget, received] of cases) {
         assert.throws(() => lookupBudget(table, budget), (e) => {
           assert.ok(e instanceof RangeError, String(e));
           assert.equal(e.message,
                        'Invalid value for `budget`: expected a number in [0.3000, 0.4000] ' +
                        "(the budgets this file's table was calibrated for, as fractions of " +
                        `40,555,136 reference FLOPs). Received: ${received}`);
           return true;
         });
       }
       // The ends are in the range.
       assert.deepEqual(lookupBudget(table, 0.3).decisions, [0.12]);
       assert.deepEqual(lookupBudget(table, 0.4).decisions, [0.42]);
     });

test('one slider for several knob files: the intersection of their ranges', () => {
  const a = parseBudgetTable(JSON.stringify(DOC_TABLE));  // [0.3, 0.4]
  const b = parseBudgetTable(JSON.stringify(CASCADE_TABLE));  // [0.25, 0.75]
  assert.deepEqual(commonBudgetRange([a]), [0.3, 0.4]);
  assert.deepEqual(commonBudgetRange([a, b]), [0.3, 0.4]);
  const disjoint = parseBudgetTable(JSON.stringify({
    ...DOC_TABLE, rows: [{...DOC_TABLE.rows[1], budget: 0.5}, {...DOC_TABLE.rows[1], budget: 0.6}],
  }));
  assert.equal(commonBudgetRange([a, disjoint]), null);
  assert.equal(commonBudgetRange([]), null);
});
