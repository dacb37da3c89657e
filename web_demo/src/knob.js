// Budget knob files (docs/tflite_signature.md, "Budget knob files"): the `lcnet_budget_table`
// metadata entry of a .tflite file, read from its bytes, and the lookup budget -> decisions.
//
// A knob file has a second signature, `serve_budget` (inputs `image` and `decisions`), and a
// calibration table in the flatbuffer's `Model.metadata`. LiteRT.js exposes no metadata, so
// this module reads the five flatbuffer fields the table needs, and nothing else:
//   Model (root table): field 4 `buffers: [Buffer]`, field 6 `metadata: [Metadata]`;
//   Metadata: field 0 `name: string`, field 1 `buffer: uint32` (index into `buffers`);
//   Buffer: field 0 `data: [ubyte]` (inline), or when empty fields 1 `offset: uint64` and
//   2 `size: uint64` (bytes from the start of the file; files over 2 GB).
// The lookup is the rule the Python reader (`lcnet_tf.export.read_budget_table`) and the
// Android core (`BudgetKnob`) follow. Pure functions: no DOM, no LiteRT (node --test).

export const BUDGET_TABLE_NAME = 'lcnet_budget_table';
export const BUDGET_TABLE_VERSION = 1;
/** A budget within this of a row's budget gets that row exactly. */
export const ROW_TOLERANCE = 1e-9;

/** The file has no `lcnet_budget_table` entry: it is a plain file, run its `serve` signature. */
export class NotAKnobFileError extends Error {
  constructor(message) {
    super(message);
    this.name = 'NotAKnobFileError';
  }
}

/** The file or its table is malformed (a corrupt flatbuffer, or JSON the doc does not allow). */
export class BudgetTableError extends Error {
  constructor(message) {
    super(message);
    this.name = 'BudgetTableError';
  }
}

// Flatbuffers --------------------------------------------------------------------------------

const MODEL_BUFFERS = 4;
const MODEL_METADATA = 6;
const METADATA_NAME = 0;
const METADATA_BUFFER = 1;
const BUFFER_DATA = 0;
const BUFFER_OFFSET = 1;
const BUFFER_SIZE = 2;

/** Bounds-checked little-endian reads over the file's bytes. */
class FlatBufferReader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  check(position, size, what) {
    if (!(Number.isInteger(position) && position >= 0 && position + size <= this.bytes.length)) {
      throw new BudgetTableError(
          `corrupt .tflite flatbuffer: ${what} at byte ${position} (+${size}) is outside the ` +
          `file's ${this.bytes.length} bytes`);
    }
  }

  u16(position, what) {
    this.check(position, 2, what);
    return this.view.getUint16(position, true);
  }

  u32(position, what) {
    this.check(position, 4, what);
    return this.view.getUint32(position, true);
  }

  u64(position, what) {
    this.check(position, 8, what);
    const value = this.view.getBigUint64(position, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new BudgetTableError(`corrupt .tflite flatbuffer: ${what} is ${value}`);
    }
    return Number(value);
  }

  /** Position of field `index` of the table at `table`, or null when the field is absent. */
  field(table, index, what) {
    this.check(table, 4, what);
    const vtable = table - this.view.getInt32(table, true);  // soffset to the vtable
    const vtableSize = this.u16(vtable, `vtable of ${what}`);
    const slot = 4 + 2 * index;
    if (slot + 2 > vtableSize) return null;
    const offset = this.u16(vtable + slot, `vtable of ${what}`);
    return offset ? table + offset : null;
  }

  /** Follows the uoffset stored at `position`. */
  indirect(position, what) {
    return position + this.u32(position, what);
  }

  /** A vector field: {start, length} of its elements, or null when absent. */
  vector(table, index, elementSize, what) {
    const position = this.field(table, index, what);
    if (position === null) return null;
    const vector = this.indirect(position, what);
    const length = this.u32(vector, `length of ${what}`);
    this.check(vector + 4, length * elementSize, what);
    return {start: vector + 4, length};
  }

  /** The table that element `i` of a vector of tables points to. */
  tableAt(vector, i, what) {
    return this.indirect(vector.start + 4 * i, what);
  }

  string(table, index, what) {
    const position = this.field(table, index, what);
    if (position === null) return null;
    const start = this.indirect(position, what);
    const length = this.u32(start, `length of ${what}`);
    this.check(start + 4, length, what);
    return new TextDecoder('utf-8').decode(this.bytes.subarray(start + 4, start + 4 + length));
  }
}

function asBytes(content) {
  if (content instanceof Uint8Array) return content;
  if (content instanceof ArrayBuffer) return new Uint8Array(content);
  if (ArrayBuffer.isView(content)) {
    return new Uint8Array(content.buffer, content.byteOffset, content.byteLength);
  }
  throw new TypeError('expected the bytes of a .tflite file (ArrayBuffer or Uint8Array)');
}

/**
 * The metadata entries of a .tflite file: name and the bytes of its buffer.
 *
 * @param {ArrayBuffer|Uint8Array} content the whole file.
 * @return {{name: ?string, buffer: number, data: Uint8Array}[]} in file order (`data` views
 *     `content`, no copy).
 * @throws {BudgetTableError} a truncated or corrupt flatbuffer, or an entry whose buffer is not
 *     in the file.
 */
export function readMetadata(content) {
  const bytes = asBytes(content);
  if (bytes.length < 8) {
    throw new BudgetTableError(`not a .tflite file: ${bytes.length} bytes`);
  }
  const reader = new FlatBufferReader(bytes);
  const model = reader.indirect(0, 'root table Model');
  const metadata = reader.vector(model, MODEL_METADATA, 4, 'Model.metadata');
  if (metadata === null) return [];
  const buffers = reader.vector(model, MODEL_BUFFERS, 4, 'Model.buffers');
  const entries = [];
  for (let i = 0; i < metadata.length; i++) {
    const entry = reader.tableAt(metadata, i, `Model.metadata[${i}]`);
    const name = reader.string(entry, METADATA_NAME, `Model.metadata[${i}].name`);
    const bufferField = reader.field(entry, METADATA_BUFFER, `Model.metadata[${i}]`);
    const index = bufferField === null ? 0 : reader.u32(bufferField, `Model.metadata[${i}].buffer`);
    if (buffers === null || index >= buffers.length) {
      throw new BudgetTableError(
          `corrupt .tflite flatbuffer: metadata ${JSON.stringify(name)} names buffer ${index}, ` +
          `the file has ${buffers === null ? 0 : buffers.length}`);
    }
    const what = `Model.buffers[${index}]`;
    const buffer = reader.tableAt(buffers, index, what);
    let data = null;
    const inline = reader.vector(buffer, BUFFER_DATA, 1, `${what}.data`);
    if (inline !== null && inline.length) {
      data = bytes.subarray(inline.start, inline.start + inline.length);
    } else {
      const offsetField = reader.field(buffer, BUFFER_OFFSET, what);
      const sizeField = reader.field(buffer, BUFFER_SIZE, what);
      const offset = offsetField === null ? 0 : reader.u64(offsetField, `${what}.offset`);
      const size = sizeField === null ? 0 : reader.u64(sizeField, `${what}.size`);
      // The schema: offset and size are valid only when offset > 1.
      if (offset > 1) {
        reader.check(offset, size, `${what} (offset ${offset}, size ${size})`);
        data = bytes.subarray(offset, offset + size);
      } else {
        data = bytes.subarray(0, 0);
      }
    }
    entries.push({name, buffer: index, data});
  }
  return entries;
}

// The table ------------------------------------------------------------------------------------

function fail(message) {
  throw new BudgetTableError(`invalid ${BUDGET_TABLE_NAME}: ${message}`);
}

function finiteNumber(value, what) {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(`${what} must be a finite number, got ${JSON.stringify(value)}`);
  }
  return value;
}

function nonEmptyString(value, what) {
  if (typeof value !== 'string' || !value) {
    fail(`${what} must be a non-empty string, got ${JSON.stringify(value)}`);
  }
  return value;
}

function isObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function point(value, numDecisions, what) {
  if (!isObject(value)) fail(`${what} must be an object, got ${JSON.stringify(value)}`);
  if (!Array.isArray(value.decisions) || value.decisions.length !== numDecisions) {
    fail(`${what}.decisions must hold ${numDecisions} number(s) (one per decision_names), ` +
         `got ${JSON.stringify(value.decisions)}`);
  }
  return Object.freeze({
    budget: finiteNumber(value.budget, `${what}.budget`),
    decisions: Object.freeze(value.decisions.map(
        (d, k) => finiteNumber(d, `${what}.decisions[${k}]`))),
    mean_flops: finiteNumber(value.mean_flops, `${what}.mean_flops`),
  });
}

/**
 * Parses and checks the JSON of a `lcnet_budget_table` entry.
 *
 * @param {string|Uint8Array} json the entry's text or its UTF-8 bytes.
 * @return {object} the table, frozen, with the doc's field names: format, version, signature,
 *     input, decision_names, reference_flops, num_images, default and rows (each {budget,
 *     decisions, mean_flops}).
 * @throws {BudgetTableError} not UTF-8 JSON, or a field missing or out of its domain.
 */
export function parseBudgetTable(json) {
  let text = json;
  if (typeof json !== 'string') {
    try {
      text = new TextDecoder('utf-8', {fatal: true}).decode(json);
    } catch {
      fail('its buffer is not UTF-8 text');
    }
  }
  let raw;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    fail(`not JSON (${error.message})`);
  }
  if (!isObject(raw)) fail(`expected a JSON object, got ${JSON.stringify(raw)}`);
  if (raw.format !== BUDGET_TABLE_NAME) {
    fail(`format must be ${JSON.stringify(BUDGET_TABLE_NAME)}, got ${JSON.stringify(raw.format)}`);
  }
  if (raw.version !== BUDGET_TABLE_VERSION) {
    fail(`version ${JSON.stringify(raw.version)}: this reader knows version ` +
         `${BUDGET_TABLE_VERSION} only`);
  }
  const names = raw.decision_names;
  if (!Array.isArray(names) || !names.length) {
    fail(`decision_names must be a non-empty list, got ${JSON.stringify(names)}`);
  }
  names.forEach((name, k) => nonEmptyString(name, `decision_names[${k}]`));
  const referenceFlops = finiteNumber(raw.reference_flops, 'reference_flops');
  if (!(referenceFlops > 0)) fail(`reference_flops must be > 0, got ${referenceFlops}`);
  if (!Number.isInteger(raw.num_images) || raw.num_images <= 0) {
    fail(`num_images must be a positive integer, got ${JSON.stringify(raw.num_images)}`);
  }
  if (!Array.isArray(raw.rows) || raw.rows.length < 2) {
    fail(`rows must be a list of at least 2 rows, got ${JSON.stringify(raw.rows)}`);
  }
  const rows = raw.rows.map((row, i) => point(row, names.length, `rows[${i}]`));
  for (let i = 1; i < rows.length; i++) {
    if (!(rows[i].budget > rows[i - 1].budget)) {
      fail(`rows must have strictly increasing budgets: rows[${i - 1}].budget = ` +
           `${rows[i - 1].budget}, rows[${i}].budget = ${rows[i].budget}`);
    }
  }
  return Object.freeze({
    format: raw.format,
    version: raw.version,
    signature: nonEmptyString(raw.signature, 'signature'),
    input: nonEmptyString(raw.input, 'input'),
    decision_names: Object.freeze(names.slice()),
    reference_flops: referenceFlops,
    num_images: raw.num_images,
    default: point(raw.default, names.length, 'default'),
    rows: Object.freeze(rows),
  });
}

/**
 * The budget table of a .tflite file, or null when the file is not a knob file.
 *
 * @param {ArrayBuffer|Uint8Array} content the whole file.
 * @return {?object} the table (`parseBudgetTable`), null without a `lcnet_budget_table` entry.
 * @throws {BudgetTableError} a corrupt file, several entries of that name, or a bad table.
 */
export function findBudgetTable(content) {
  const entries = readMetadata(content).filter((entry) => entry.name === BUDGET_TABLE_NAME);
  if (!entries.length) return null;
  if (entries.length > 1) {
    fail(`the file has ${entries.length} metadata entries of that name (buffers ` +
         `${entries.map((e) => e.buffer).join(', ')}), expected one`);
  }
  if (!entries[0].data.length) fail(`its buffer (${entries[0].buffer}) is empty`);
  return parseBudgetTable(entries[0].data);
}

/**
 * The budget table of a knob file.
 *
 * @param {ArrayBuffer|Uint8Array} content the whole file.
 * @param {string} [name] the file's name, for the messages.
 * @return {object} the table (`parseBudgetTable`).
 * @throws {NotAKnobFileError} the file has no `lcnet_budget_table` entry.
 * @throws {BudgetTableError} a corrupt file or a bad table.
 */
export function readBudgetTable(content, name = 'this file') {
  const table = findBudgetTable(content);
  if (table === null) {
    throw new NotAKnobFileError(
        `${name} is not a budget knob file: it has no ${BUDGET_TABLE_NAME} metadata entry ` +
        '(export it with lcnet_tf.export.to_tflite(..., budget_table=...)); run its ' +
        '"serve" signature');
  }
  return table;
}

/** `[rows[0].budget, rows[rows.length - 1].budget]`: the budgets a table can give. */
export function budgetRange(table) {
  return [table.rows[0].budget, table.rows[table.rows.length - 1].budget];
}

/**
 * The budgets every table can give: the intersection of their ranges, or null when it is
 * empty or a single point (a page with one slider for several knob files, e.g. a model's
 * float and int8 files, whose tables are normally the same).
 *
 * @param {object[]} tables parsed tables.
 * @return {?number[]} `[low, high]`.
 */
export function commonBudgetRange(tables) {
  if (!tables.length) return null;
  const ranges = tables.map(budgetRange);
  const low = Math.max(...ranges.map((r) => r[0]));
  const high = Math.min(...ranges.map((r) => r[1]));
  return low < high ? [low, high] : null;
}

/**
 * Looks a budget up in a table (docs/tflite_signature.md, "Lookup"; the rule of
 * `lcnet_tf.budget_table.BudgetTable.lookup`, term for term).
 *
 * A budget within `ROW_TOLERANCE` of a row's budget (the first such row) gets that row
 * exactly, the ends of the range included; between two rows, the decisions and the expected
 * mean FLOPs are interpolated linearly between the neighbours: with
 * `t = (budget - b0) / (b1 - b0)`, `y0 + t * (y1 - y0)`.
 *
 * @param {object} table a parsed table (`parseBudgetTable`).
 * @param {number} budget a fraction of `table.reference_flops`.
 * @return {{budget: number, decisions: number[], meanFlops: number, exact: boolean,
 *     row: ?number}} `decisions` in the order of `table.decision_names` (the `decisions`
 *     input of `table.signature`); `meanFlops` the expected mean realized FLOPs per image;
 *     `exact` whether a row was hit (then `row` is its index, else null).
 * @throws {RangeError} the budget is not a finite number within the rows' range (give or
 *     take `ROW_TOLERANCE`); the message names the value and the range.
 */
export function lookupBudget(table, budget) {
  const [low, high] = budgetRange(table);
  if (typeof budget !== 'number' || !Number.isFinite(budget) ||
      !(low - ROW_TOLERANCE <= budget && budget <= high + ROW_TOLERANCE)) {
    const shown = typeof budget === 'number' ? String(budget) : JSON.stringify(budget);
    throw new RangeError(
        `Invalid value for \`budget\`: expected a number in [${low.toFixed(4)}, ` +
        `${high.toFixed(4)}] (the budgets this file's table was calibrated for, as fractions ` +
        `of ${table.reference_flops.toLocaleString('en-US')} reference FLOPs). ` +
        `Received: budget=${shown}`);
  }
  const rows = table.rows;
  const hit = rows.findIndex((row) => Math.abs(row.budget - budget) <= ROW_TOLERANCE);
  if (hit >= 0) {
    const row = rows[hit];
    return {budget, decisions: row.decisions.slice(), meanFlops: row.mean_flops, exact: true,
            row: hit};
  }
  const upper = rows.findIndex((row) => row.budget > budget);
  const below = rows[upper - 1];
  const above = rows[upper];
  const weight = (budget - below.budget) / (above.budget - below.budget);
  const interpolate = (y0, y1) => y0 + weight * (y1 - y0);
  return {
    budget,
    decisions: below.decisions.map((d, k) => interpolate(d, above.decisions[k])),
    meanFlops: interpolate(below.mean_flops, above.mean_flops),
    exact: false,
    row: null,
  };
}
