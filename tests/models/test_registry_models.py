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
