"""The public-API harness (tests/harness.py) on cascades from the registry: static stages and
gated stages (L, C, LC).

A cascade has no weights of its own and is trained stage by stage (each stage is a registered
network, whose gradients and `fit` the network suites check), so the cascade cases check what
the cascade adds: config round trip, `.keras` save/load, exact per-image FLOPs, the batch-1
deployment graph against the batched path, uint8 == float.
"""

import harness
import numpy as np
import pytest

import lcnet_tf

STAGE_GATINGS = [("none", "none"), ("none", "layer"), ("none", "channel"), ("none", "lc"),
                 ("lc", "lc")]


@pytest.fixture(scope="module", params=STAGE_GATINGS, ids=["-".join(g) for g in STAGE_GATINGS])
def built(request):
    cascade, images = harness.varied_cascade(request.param, batch=12)
    return cascade, images, harness.reference_outputs(cascade, images)


def test_config_round_trip(built):
    harness.check_config_round_trip(built[0], built[1], built[2])


def test_save_load(built, tmp_path):
    harness.check_save_load(built[0], built[1], str(tmp_path), built[2])


def test_flops(built):
    cascade, images, (_, info) = built
    per_example = lcnet_tf.flops.per_example_flops(cascade, images)
    assert per_example.dtype == np.int64
    np.testing.assert_allclose(info["realized_flops"], per_example, rtol=1e-6)
    low, high = cascade.flops_range()
    assert np.all((per_example >= low) & (per_example <= cascade.cost.forced_open_flops()))
    assert 0 < info["gate"][:, 1].sum() < len(images)
    _, forced = cascade(images, return_gate_info=True, force_gates_open=True)
    np.testing.assert_array_equal(
        cascade.cost.realized(harness.to_np(forced["gate"]), harness.to_np(forced["kept_groups"])),
        cascade.cost.forced_open_flops())
    assert high <= cascade.cost.forced_open_flops()


def test_batch1_matches_batched(built):
    harness.check_batch1_matches_batched(built[0], built[1])


def test_uint8_equals_float(built):
    harness.check_uint8_equals_float(built[0], built[1])
