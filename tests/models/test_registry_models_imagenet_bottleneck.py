"""Public-API harness on the registered ImageNet bottleneck models (224x224) x every gating."""

import harness

MODELS = harness.model_names("imagenet", "bottleneck")
CASES = [(name, gating) for name in MODELS for gating in harness.GATINGS]
FULL_CASES = [("resnet50", gating) for gating in harness.GATINGS]
FIT_CASES = [("resnet50", "lc")]

globals().update(harness.registry_suite(CASES, FULL_CASES, FIT_CASES))
