"""Public-API harness on the registered ImageNet bottleneck models (224x224) x every gating."""

import harness

MODELS = harness.model_names("imagenet", "bottleneck")
CASES = [(name, gating) for name in MODELS for gating in harness.GATINGS]
FULL_MODELS = {"resnet50"}
FIT_CASES = {("resnet50", "lc")}

globals().update(harness.registry_suite(CASES, FULL_MODELS, FIT_CASES))
