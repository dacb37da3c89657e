"""`lcnet_tf.cost.cost_model.CostModel` against a few-line NumPy reference and the FLOPs goldens."""

import numpy as np
import pytest

import lcnet_tf
from lcnet_tf.cost.cost_model import CostModel
from lcnet_tf.ops.gate_ops import kept_group_count

RESNET20_MACS = 40_555_136  # tests/test_flops.py EXACT (hand count from the architecture)


def reference_flops(table, gate, kept):
    """Per-image FLOPs written out block by block (no vectorised formula)."""
    totals = []
    for image_gate, image_kept in zip(gate, kept, strict=True):
        total = int(table["fixed"])
        for b in range(len(table["always"])):
            total += int(table["always"][b])
            if image_gate[b]:
                total += int(table["run"][b]) + int(image_kept[b]) * int(table["per_group"][b])
        totals.append(total)
    return np.array(totals)


@pytest.fixture(scope="module")
def lc20():
    return lcnet_tf.create_model("resnet20", gating="lc", channel_gate_stages=(0, 1, 2),
                                 channel_groups=4, channel_keep=0.5)


def test_realized_matches_the_reference_on_numpy_and_tensors(lc20):
    cost = lc20.cost
    rng = np.random.default_rng(0)
    gate = rng.integers(0, 2, (6, cost.num_blocks))
    gate[:, ~cost.block_gated] = 1
    kept = gate * rng.integers(0, 5, (6, cost.num_blocks)) * (cost.groups > 0)
    want = reference_flops(cost.table, gate, kept)
    got = cost.realized(gate, kept)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, want)
    tensor = np.asarray(cost.realized(gate.astype("float32"), kept.astype("float32")))
    np.testing.assert_allclose(tensor, want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(cost.ratio(gate, kept)), want / cost.backbone,
                               rtol=1e-6)


def test_the_model_asks_the_cost_model(lc20):
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3)).astype("float32")
    _, info = lc20(images, training=False, return_gate_info=True)
    gate = np.rint(np.asarray(info["gate"])).astype(np.int64)
    kept = np.rint(np.asarray(info["kept_groups"])).astype(np.int64)
    np.testing.assert_allclose(np.asarray(info["realized_flops"]),
                               reference_flops(lc20.cost.table, gate, kept), rtol=1e-6)
    np.testing.assert_array_equal(lcnet_tf.flops.per_example_flops(lc20, images),
                                  reference_flops(lc20.cost.table, gate, kept))


def test_named_points_have_one_meaning_each(lc20):
    cost = lc20.cost
    static = lcnet_tf.create_model("resnet20", gating="none").cost
    assert cost.backbone == static.backbone == RESNET20_MACS
    assert static.forced_open_flops() == static.forced_closed_flops() == RESNET20_MACS
    gates = sum(cost.always) - sum(static.always)  # pooling + L-Net gates run always
    ran = np.ones((1, cost.num_blocks), dtype=np.int64)
    assert cost.forced_open_flops() == reference_flops(cost.table, ran, cost.groups[None])[0]
    assert cost.forced_open_flops() > RESNET20_MACS + gates  # + the C-Net gates when run
    closed = (~cost.block_gated).astype(np.int64)[None]
    assert cost.forced_closed_flops() == reference_flops(cost.table, closed, 0 * closed)[0]
    # The calibration range keeps the trained top-k: 2 of 4 groups in every running block.
    low, high = cost.decision_range()
    assert list(cost.keep_groups[cost.groups > 0]) == [2] * int((cost.groups > 0).sum())
    assert low == pytest.approx(
        reference_flops(cost.table, closed, closed * cost.keep_groups)[0] / cost.backbone)
    assert high == pytest.approx(
        reference_flops(cost.table, ran, cost.keep_groups[None])[0] / cost.backbone)
    # Ungated (downsampling) blocks keep 2 groups, not 0: the two "closed" figures differ.
    assert low * cost.backbone > cost.forced_closed_flops()
    assert high * cost.backbone < cost.forced_open_flops()


@pytest.mark.parametrize("budget", [0.2, 0.3, 0.45])  # reachable: 0.10..0.51
def test_uniform_target_rate_meets_the_budget_in_expectation(lc20, budget):
    cost = lc20.cost
    rate = float(cost.uniform_target_rate(budget))
    expected_gate = np.where(cost.block_gated, rate, 1.0)[None]
    expected = reference_flops_float(cost, expected_gate, cost.keep_groups[None])
    assert 0.0 < rate < 1.0
    assert expected / cost.backbone == pytest.approx(budget, abs=1e-6)


def reference_flops_float(cost, gate, kept):
    per_block = cost.always + gate[0] * (cost.run + kept[0] * cost.per_group)
    return cost.fixed + per_block.sum()


def test_channel_keep_for_takes_the_smallest_fraction_the_gates_can_carry(lc20):
    cost = lc20.cost
    fractions = [0.25, 0.5, 0.75, 1.0]
    rates = {f: float(cost.uniform_target_rate(0.45, f)) for f in fractions}
    for cap in (0.6, 0.8, 0.95):
        want = next((f for f in fractions if rates[f] <= cap), 1.0)
        assert cost.channel_keep_for(0.45, fractions, cap) == want
    assert [kept_group_count(f, 4) for f in fractions] == [1, 2, 3, 4]
    assert list(cost.kept_groups_at(0.25)) == [1 if g else 0 for g in cost.groups]


def test_channel_only_keep_is_the_closest_fixed_ratio():
    model = lcnet_tf.create_model("resnet20", gating="channel", channel_gate_stages=(0, 1, 2),
                                  channel_groups=4)
    cost = CostModel.from_model(model)
    assert not cost.block_gated.any()
    fractions = [0.25, 0.5, 0.75, 1.0]
    ratios = [cost.decision_range(f)[1] for f in fractions]
    assert ratios == sorted(ratios) and cost.decision_range(0.5)[0] == ratios[1]
    assert cost.channel_keep_for(ratios[2] + 0.01, fractions, 0.9) == 0.75
