"""Public-API harness (tests/harness.py) on every registered CIFAR model x every gating.

ImageNet models run the same suite in test_registry_models_imagenet_*.py, split so that
pytest-xdist `--dist loadfile` spreads the cost over workers.
"""

import harness

import lcnet_tf

MODELS = harness.model_names("cifar")
CASES = [(name, gating) for name in MODELS for gating in harness.GATINGS]
FULL_CASES = [("resnet20", gating) for gating in harness.GATINGS]
FIT_CASES = [("resnet20", "none"), ("resnet20", "lc")]

globals().update(harness.registry_suite(CASES, FULL_CASES, FIT_CASES))


def test_registry_is_covered_by_the_suites():
    names = lcnet_tf.list_models()
    assert len(names) == len(set(names))
    imagenet = harness.model_names("imagenet", "basic") + harness.model_names(
        "imagenet", "bottleneck"
    )
    assert sorted(MODELS + imagenet) == sorted(names)
    assert {"resnet20", "resnet56", "resnet110", "resnet18", "resnet50"} <= set(names)


def test_gate_downsampling_false_keeps_shape_changing_blocks_on(tmp_path):
    model = lcnet_tf.create_model("resnet20", gating="lc")  # gate_downsampling=False
    # The first blocks of stages 2 and 3 change shape: no L-Net gate there.
    assert [block.block_gate for block in model.blocks] == [
        True, True, True, False, True, True, False, True, True
    ]
    assert model.get_config()["gate_downsampling"] is False
    harness.randomize_batch_norm(model)
    images = harness.sample_images(model, batch=3)
    harness.assert_decisions_differ(model, *harness.mix_decisions(model, images))
    reference = harness.reference_outputs(model, images)
    harness.check_config_round_trip(model, images, reference)
    harness.check_flops(model, images, reference)
    harness.check_batch1_matches_batched(model, images)
    _, info = model(images, return_gate_info=True)
    assert harness.to_np(info["gate"])[:, [3, 6]].min() == 1.0


def test_models_saved_before_gate_downsampling_load_with_every_block_gated():
    model = lcnet_tf.create_model("resnet20", gating="layer", gate_downsampling=True)
    config = model.get_config()
    del config["gate_downsampling"]  # As saved by versions without the option.
    clone = type(model).from_config(config)
    assert all(block.block_gate for block in clone.blocks)
    clone.set_weights(model.get_weights())
