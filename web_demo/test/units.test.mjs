// node --test web_demo/test/  (run by tests/apps/test_web_demo.py)
import assert from 'node:assert/strict';
import {test} from 'node:test';

import {decisionText, isComparisonRole, layoutOf, roleRank, runRates, stageIndex, unitsOf}
  from '../src/units.js';

// A cascade's units as Cascade.decision_units() names them: a static stage0, an LC stage1.
const CASCADE = [
  {name: 'stage0', kind: 'stage', gated: false},
  {name: 'stage1', kind: 'stage', gated: true},
  {name: 'stage1/stage1_block1', kind: 'block', gated: true},
  {name: 'stage1/stage2_block1', kind: 'block', gated: true},
  {name: 'stage1/stage3_block1', kind: 'block', gated: true},
];
const GATED = ['stage1_block1', 'stage2_block1', 'stage3_block1'].map(
    (name) => ({name, kind: 'block', gated: true}));

test('roles: a cascade, its stages cheapest first, its last stage, the reference', () => {
  const roles = ['reference', 'static', 'stage1', 'other', 'stage0', 'dynamic', 'stage10'];
  roles.sort((a, b) => roleRank(a) - roleRank(b));
  assert.deepEqual(roles, ['dynamic', 'stage0', 'stage1', 'stage10', 'static', 'reference',
                           'other']);
  assert.equal(stageIndex('stage12'), 12);
  assert.equal(stageIndex('stage'), null);
  assert.equal(stageIndex('stages1'), null);
  assert.ok(isComparisonRole('stage0') && isComparisonRole('static'));
  assert.ok(!isComparisonRole('dynamic'));
});

test('units fall back to generic names when the manifest has none or the wrong count', () => {
  assert.deepEqual(unitsOf({decision_units: CASCADE}, 5), CASCADE);
  const generic = unitsOf({decision_units: CASCADE}, 3);
  assert.deepEqual(generic.map((u) => [u.name, u.kind]),
                   [['unit1', 'unit'], ['unit2', 'unit'], ['unit3', 'unit']]);
  assert.equal(unitsOf({}, 2).length, 2);  // A manifest written before decision_units.
});

test('a cascade is drawn as its stages, then the blocks of each gated stage', () => {
  const layout = layoutOf(CASCADE);
  assert.deepEqual(layout.stages, [{name: 'stage0', column: 0}, {name: 'stage1', column: 1}]);
  assert.equal(layout.groups.length, 1);
  assert.equal(layout.groups[0].stage, 'stage1');
  assert.deepEqual(layout.groups[0].cells.map((c) => [c.label, c.column]),
                   [['stage1_block1', 2], ['stage2_block1', 3], ['stage3_block1', 4]]);
  assert.equal(decisionText(layout, [1, 1, 1, 0, 1]), 'stage1 ran (2/3 blocks)');
  assert.equal(decisionText(layout, [1, 0, 0, 0, 0]), 'stage1 skipped');
  // Stage run rates over images; blocks among the images whose stage ran.
  const rates = runRates(layout, [[1, 1, 1, 0, 1], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1],
                                  [1, 0, 0, 0, 0]]);
  assert.deepEqual(rates.stages, [1, 0.5]);
  assert.equal(rates.blocks, 5 / 6);
});

test('a static cascade has no blocks; a gated network no stages', () => {
  const staticCascade = layoutOf(CASCADE.slice(0, 2));
  assert.equal(decisionText(staticCascade, [1, 1]), 'stage1 ran');
  assert.equal(runRates(staticCascade, [[1, 1], [1, 0]]).blocks, null);
  const gated = layoutOf(GATED);
  assert.deepEqual(gated.stages, []);
  assert.deepEqual(gated.groups.map((g) => g.stage), [null]);
  assert.equal(decisionText(gated, [1, 0, 1]), '2/3 blocks ran');
  assert.equal(decisionText(layoutOf(unitsOf({}, 2)), [1, 1]), '2/2 units ran');
  assert.equal(runRates(gated, [[1, 0, 1], [1, 1, 1]]).blocks, 5 / 6);
});
