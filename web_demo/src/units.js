// Decision units: what the columns of a model's `gate` and `kept_groups` outputs are.
//
// The manifest names them per model (`decision_units`: {name, kind, gated}, from the `.keras`
// model's `decision_units()`): a gated network (L/C/LC-Net) has one "block" per column; a
// cascade has its "stage"s first (did stage i run?), then the blocks of each gated stage,
// named "<stage>/<block>" (0 where the stage did not run). A file whose model was not at
// hand gets generic "unit" columns. Pure functions: no DOM (tested with node --test).

const STAGE_ROLE = /^stage(\d+)$/;

/** `"stage1"` -> 1 (a cascade's first stages are the roles stage<i>); null otherwise. */
export function stageIndex(role) {
  const match = STAGE_ROLE.exec(role);
  return match ? Number(match[1]) : null;
}

/**
 * The page's order of roles: dynamic, stage0, stage1, ..., static (a cascade's last stage),
 * reference, then anything else.
 */
export function roleRank(role) {
  const stage = stageIndex(role);
  if (role === 'dynamic') return 0;
  if (stage !== null) return 1 + stage / 1000;
  if (role === 'static') return 2;
  if (role === 'reference') return 3;
  return 4;
}

/** Whether a role is a static comparison row (never timed with its gates forced open). */
export function isComparisonRole(role) {
  return role === 'static' || role === 'reference' || stageIndex(role) !== null;
}

/** The units of a manifest entry for `numColumns` gate columns (generic when unknown). */
export function unitsOf(model, numColumns) {
  const units = model && model.decision_units;
  if (Array.isArray(units) && units.length === numColumns) return units;
  return Array.from({length: numColumns},
                    (_, k) => ({name: `unit${k + 1}`, kind: 'unit', gated: null}));
}

/**
 * The units as the card draws them.
 *
 * @return {{stages: {name: string, column: number}[],
 *     groups: {stage: ?string, cells: {name: string, label: string, kind: string,
 *     column: number}[]}[]}} stages in order; block columns grouped by the stage they belong
 *     to (stage null: a gated network's blocks, or generic units).
 */
export function layoutOf(units) {
  const stages = [];
  const groups = new Map();
  units.forEach((unit, column) => {
    if (unit.kind === 'stage') {
      stages.push({name: unit.name, column});
      return;
    }
    const slash = unit.name.indexOf('/');
    const owner = slash > 0 ? unit.name.slice(0, slash) : null;
    const stage = owner !== null && stages.some((s) => s.name === owner) ? owner : null;
    if (!groups.has(stage)) groups.set(stage, []);
    groups.get(stage).push({name: unit.name, label: stage ? unit.name.slice(slash + 1) : unit.name,
                            kind: unit.kind, column});
  });
  return {stages, groups: [...groups].map(([stage, cells]) => ({stage, cells}))};
}

const ran = (value) => value > 0.5;

function plural(kind, count) {
  const noun = kind === 'block' ? 'block' : 'unit';
  return count === 1 ? noun : `${noun}s`;
}

/**
 * One image's decisions in words: for a cascade "stage1 ran (2/3 blocks)" or "stage1
 * skipped" (each stage after the first; a gated first stage says its blocks too), for a gated
 * network "5/9 blocks ran".
 */
export function decisionText(layout, gate) {
  if (!layout.stages.length) {
    const cells = layout.groups.flatMap((group) => group.cells);
    if (!cells.length) return '';
    const count = cells.filter((cell) => ran(gate[cell.column])).length;
    return `${count}/${cells.length} ${plural(cells[0].kind, cells.length)} ran`;
  }
  const parts = [];
  layout.stages.forEach((stage, index) => {
    const group = layout.groups.find((g) => g.stage === stage.name);
    const stageRan = ran(gate[stage.column]);
    const blocks = group && stageRan ?
        ` (${group.cells.filter((cell) => ran(gate[cell.column])).length}/` +
            `${group.cells.length} blocks)` :
        '';
    if (index === 0) {
      if (blocks) parts.push(`${stage.name}${blocks}`);  // It runs on every image.
      return;
    }
    parts.push(`${stage.name} ${stageRan ? 'ran' : 'skipped'}${blocks}`);
  });
  return parts.join(', ');
}

/**
 * Run rates over images, per kind: each stage's rate (fraction of images it ran on) and the
 * blocks' rate among the images whose stage ran (a gated network: among all images).
 *
 * @param {number[][]} gates per image, the `gate` output.
 * @return {{stages: number[], blocks: ?number}} blocks null when there are none.
 */
export function runRates(layout, gates) {
  const stages = layout.stages.map(
      (stage) => gates.filter((gate) => ran(gate[stage.column])).length / gates.length);
  let runs = 0;
  let total = 0;
  for (const group of layout.groups) {
    const owner = layout.stages.find((stage) => stage.name === group.stage);
    for (const gate of gates) {
      if (owner && !ran(gate[owner.column])) continue;
      for (const cell of group.cells) {
        runs += ran(gate[cell.column]) ? 1 : 0;
        total += 1;
      }
    }
  }
  return {stages, blocks: total ? runs / total : null};
}
