"""Public-API harness on the registered ImageNet basic-block models (224x224) x every gating."""

import harness

MODELS = harness.model_names("imagenet", "basic")
CASES = [(name, gating) for name in MODELS for gating in harness.GATINGS]
FULL_CASES = [("resnet18", gating) for gating in harness.GATINGS]
FIT_CASES = [("resnet18", "lc")]

globals().update(harness.registry_suite(CASES, FULL_CASES, FIT_CASES))
