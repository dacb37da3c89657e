"""Public-API harness run on every registered model (see tests/models/).

Each `check_*` takes a built model and a small batch of images and asserts one
property of the public API: config round-trip, `.keras` save/load, one `fit`
step, gradients, per-example FLOPs, batch-1 (`cond`) path == batched path.

Models are checked trained-like, not fresh: random BatchNorm statistics and affine
(`randomize_batch_norm`; a fresh bottleneck's branches output exactly 0) and, for the
batch-1 check, gates whose decisions differ between the images of a batch (`mix_decisions`).
"""

import os

import keras
import numpy as np
import tensorflow as tf

import lcnet_tf
from lcnet_tf import flops as flops_lib
from lcnet_tf.gate_control import gate_layers


def sample_images(model, batch=2, seed=0):
    """uint8 NHWC images the model accepts: noise over a colour cast that differs per image
    (noise alone pools to the same features for every image, and so to the same decisions)."""
    size = model.image_size
    rng = np.random.default_rng(seed)
    cast = rng.uniform(0, 160, (batch, 1, 1, 3))
    noise = rng.uniform(0, 96, (batch, size, size, 3))
    return (cast + noise).astype(np.uint8)


def sample_labels(model, batch=2, seed=0):
    return np.random.default_rng(seed).integers(0, model.num_classes, (batch,)).astype("int32")


def to_np(x):
    return keras.ops.convert_to_numpy(x)


def _outputs(model, images, deployment=False):
    logits, info = model(images, training=False, return_gate_info=True, deployment=deployment)
    return to_np(logits), {key: to_np(value) for key, value in info.items()}


def reference_outputs(model, images):
    """`(logits, info)` as numpy, inference mode: what clones and reloads must reproduce."""
    return _outputs(model, images)


def assert_same_outputs(reference, model, images):
    logits_a, info_a = reference
    logits_b, info_b = _outputs(model, images)
    np.testing.assert_allclose(logits_a, logits_b, rtol=1e-6, atol=1e-6)
    assert info_a.keys() == info_b.keys()
    for key in info_a:
        np.testing.assert_allclose(info_a[key], info_b[key], rtol=1e-6, err_msg=key)


def check_config_round_trip(model, images, reference=None):
    """`from_config(get_config())` rebuilds the same config and, with the same weights, outputs.

    `reference`: `reference_outputs(model, images)` if already computed.
    """
    reference = reference or reference_outputs(model, images)
    config = model.get_config()
    clone = type(model).from_config(config)
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    assert_same_outputs(reference, clone, images)
    # The config is plain JSON: it is what `.keras` files store.
    keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))


def check_save_load(model, images, directory, reference=None):
    """`.keras` save/load, no custom_objects (registration on `import lcnet_tf`)."""
    reference = reference or reference_outputs(model, images)
    path = os.path.join(directory, "model.keras")
    model.save(path)
    try:
        loaded = keras.saving.load_model(path)
    finally:
        os.remove(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    assert_same_outputs(reference, loaded, images)


def check_fit_step(model, images, labels):
    """One `fit` step with a plain compile: finite loss, the weights move."""
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    before = to_np(model.classifier.kernel).copy()
    history = model.fit(images, labels, batch_size=len(images), epochs=1, verbose=0)
    loss = history.history["loss"][-1]
    assert np.isfinite(loss), history.history
    assert np.abs(to_np(model.classifier.kernel) - before).max() > 0
    for variable in model.trainable_variables:
        assert np.all(np.isfinite(to_np(variable))), variable.path


def check_gradients(model, images, labels, flops_weight=0.1):
    """Every trainable variable gets a finite, non-None gradient.

    Loss = cross-entropy + `flops_weight` * mean realized FLOPs / backbone FLOPs, so
    block-gate logits get gradient through the straight-through FLOPs term too; each
    keep-logit bias must then get a non-zero gradient.
    """
    backbone = float(flops_lib.backbone_flops(model))
    with tf.GradientTape() as tape:
        logits, info = model(images, training=True, return_gate_info=True)
        task = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
        loss = task + flops_weight * tf.reduce_mean(info["realized_flops"]) / backbone
    variables = model.trainable_variables
    grads = tape.gradient(loss, variables)
    assert variables
    missing = [v.path for v, g in zip(variables, grads, strict=True) if g is None]
    assert not missing, missing
    for variable, grad in zip(variables, grads, strict=True):
        assert np.all(np.isfinite(to_np(grad))), variable.path
    by_path = {v.path: to_np(g) for v, g in zip(variables, grads, strict=True)}
    keep_biases = [path for path in by_path if path.endswith("keep_logit/bias")]
    n_block_gates = sum(block.block_gate for block in model.blocks)
    assert len(keep_biases) == n_block_gates
    for path in keep_biases:
        assert np.abs(by_path[path]).max() > 0, path
    assert np.abs(by_path[model.classifier.kernel.path]).max() > 0


def check_flops(model, images, reference=None):
    """Per-example FLOPs: backbone for "none", else in [closed, open] and exact when forced."""
    reference = reference or reference_outputs(model, images)
    backbone = flops_lib.backbone_flops(model)
    open_flops, closed_flops = flops_lib.open_flops(model), flops_lib.closed_flops(model)
    per_example = flops_lib.per_example_flops(model, images)
    assert per_example.shape == (len(images),) and per_example.dtype == np.int64
    np.testing.assert_allclose(reference[1]["realized_flops"], per_example, rtol=1e-6)
    if model.gating == "none":
        np.testing.assert_array_equal(per_example, backbone)
        assert open_flops == closed_flops == backbone
        return
    assert closed_flops < backbone < open_flops
    assert np.all((per_example >= closed_flops) & (per_example <= open_flops)), per_example
    try:
        for mode, expected in (("closed", closed_flops), ("open", open_flops)):
            lcnet_tf.set_gate_override(model, mode)
            np.testing.assert_array_equal(flops_lib.per_example_flops(model, images), expected)
    finally:
        lcnet_tf.set_gate_override(model, None)


def check_batch1_matches_batched(model, images):
    """The deployment graph (batch 1, the `cond` / TFLite IF path) == the batched path."""
    logits, info = _outputs(model, images)
    for index in range(len(images)):
        single_logits, single_info = _outputs(model, images[index : index + 1], deployment=True)
        # Untrained deep nets reach logits in the thousands: tolerance relative to their scale.
        scale = max(1.0, float(np.abs(logits).max()))
        np.testing.assert_allclose(single_logits[0], logits[index], rtol=0, atol=1e-4 * scale)
        np.testing.assert_array_equal(single_info["gate"][0], info["gate"][index])
        np.testing.assert_array_equal(single_info["kept_groups"][0], info["kept_groups"][index])


def check_uint8_equals_float(model, images):
    logits_uint8 = to_np(model(images, training=False))
    logits_float = to_np(model(images.astype("float32"), training=False))
    np.testing.assert_array_equal(logits_uint8, logits_float)


def batch_norm_layers(model):
    """Every BatchNormalization of a GatedResNet (stem, blocks, projections)."""
    found = [layer for layer in model.stem_layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    for block in model.blocks:
        found.extend(block.bns)
        if block.projection_bn is not None:
            found.append(block.projection_bn)
    return found


def randomize_batch_norm(model, seed=0):
    """Trained-like BatchNorm: random gamma, beta, moving mean and moving variance everywhere.

    A fresh BN is an identity in inference (mean 0, variance 1, beta 0), and a bottleneck's
    last gamma starts at 0, so every bottleneck branch outputs exactly 0: a test on a fresh
    model cannot see a residual branch that is dropped or computed wrongly. The last BN of
    each residual branch gets a small gamma (0.1-0.4, as trained ResNets have; never 0),
    the others 0.5-1.5, so deep nets stay finite in inference.
    """
    rng = np.random.default_rng(seed)
    last = {id(block.bns[-1]) for block in model.blocks}
    for layer in batch_norm_layers(model):
        shape = layer.gamma.shape
        low, high = (0.1, 0.4) if id(layer) in last else (0.5, 1.5)
        layer.gamma.assign(rng.uniform(low, high, shape).astype("float32"))
        layer.beta.assign(rng.normal(0.0, 0.2, shape).astype("float32"))
        layer.moving_mean.assign(rng.normal(0.0, 0.2, shape).astype("float32"))
        layer.moving_variance.assign(rng.uniform(0.5, 2.0, shape).astype("float32"))
    assert all(np.abs(to_np(layer.gamma)).min() > 0 for layer in batch_norm_layers(model))
    return model


def _threshold_in_a_gap(logits, rate):
    """A threshold between two of `logits`, near the `rate` quantile, in the widest gap there.

    Leaves at least one image on each side (when there are two or more), and lies mid-gap, so
    paths that compute the logits with different rounding (batch 1, batched, TFLite) agree.
    """
    ranked = np.sort(np.asarray(logits, "float64"))[::-1]
    if len(ranked) < 2:
        return float(ranked[0]) - 1.0
    target = int(np.clip(round(rate * len(ranked)), 1, len(ranked) - 1))
    spread = max(1, len(ranked) // 5)
    candidates = range(max(1, target - spread), min(len(ranked) - 1, target + spread) + 1)
    runs = max(candidates, key=lambda count: ranked[count - 1] - ranked[count])
    gap = ranked[runs - 1] - ranked[runs]
    assert gap > 1e-3 * (1.0 + np.abs(ranked).max()), f"logits too close to split: {ranked}"
    return float((ranked[runs - 1] + ranked[runs]) / 2.0)


def gate_weights(model):
    """Weights of every gate network (decision offsets included), for `set_gate_weights`."""
    return [gate.get_weights() for gate in gate_layers(model)]


def set_gate_weights(model, weights):
    for gate, values in zip(gate_layers(model), weights, strict=True):
        gate.set_weights(values)


def mix_decisions(model, images, seed=0, rates=(0.5, 0.3, 0.7)):
    """Random gate networks whose decisions differ from image to image within `images`.

    Channel gates get random saliency networks (`randomize_gates`), centred over `images`
    so that the kept groups differ between them. Each block gate, block
    after block on the decisions of the blocks before it, gets a threshold mid-gap among the
    keep logits of `images`, so that it runs on about `rates[i % len(rates)]` of them (at
    least one image runs and one skips); the threshold sits in `decision_offset`, made large
    (|offset| >= 3) and different per block by moving a bias shift into it (the decisions do
    not change): a model that loses its offsets decides otherwise.

    Returns:
        `(gate, group_mask)`: the batched inference decisions on `images`, (batch, blocks)
        and a list over blocks of (batch, G) kept-group masks.
    """
    from lcnet_tf.export.gate_patterns import randomize_gates

    randomize_gates(model, seed=seed)
    # The model's own layers in order, batched: normalization (as its config states), stem, blocks.
    mean = np.asarray(model.pixel_mean, "float32") * 255.0
    std = np.asarray(model.pixel_std, "float32") * 255.0
    x = keras.ops.convert_to_tensor((np.asarray(images, "float32") - mean) / std)
    for layer in model.stem_layers:
        x = layer(x, training=False)
    gates, group_masks = [], []
    gated = 0
    for block in model.blocks:
        channel_gate = block.channel_gate_layer
        if channel_gate is not None:
            # Centre each group's saliency logit over the images, so that which groups rank
            # first depends on the image; with 2 groups split the images mid-gap.
            dense = channel_gate.saliency_dense
            logits = to_np(dense(channel_gate.hidden(block.gate_pool(x))))
            shift = -logits.mean(axis=0)
            if channel_gate.groups == 2:
                centred = logits + shift
                split = _threshold_in_a_gap(centred[:, 0] - centred[:, 1], 0.5)
                shift += np.array([-split / 2.0, split / 2.0])
            dense.bias.assign(to_np(dense.bias) + shift.astype("float32"))
        gate = block.block_gate_layer
        if gate is not None:
            logits = to_np(gate(block.gate_pool(x), training=False)["keep_logit"])
            threshold = _threshold_in_a_gap(logits, rates[gated % len(rates)])
            shift = (3.0 + gated) * (1.0 if threshold >= 0 else -1.0)  # |offset| >= 3
            bias = gate.keep_logit_dense.bias
            bias.assign(to_np(bias) + shift)
            gate.decision_offset.assign(-threshold - shift)
            gated += 1
        x, info = block(x, training=False)
        gates.append(to_np(info["gate"]))
        group_masks.append(to_np(info["group_mask"]))
    return np.stack(gates, axis=1), group_masks


def assert_decisions_differ(model, gate, group_masks):
    """Within the batch, images take different block decisions and keep different groups."""
    if any(block.block_gate for block in model.blocks):
        assert any((gate[0] != row).any() for row in gate[1:]), gate
        block_gated = np.array([block.block_gate for block in model.blocks])
        rates = gate[:, block_gated].mean(axis=0)
        assert np.all((rates > 0) & (rates < 1)), rates  # every block gate runs and skips
    grouped = [mask for mask in group_masks if mask.shape[1]]
    if grouped:
        assert any((mask[0] != row).any() for mask in grouped for row in mask[1:]), grouped


def model_names(stem, block_type=None):
    """Registered models with the given stem (and block type), straight from the registry."""
    names = []
    for name in lcnet_tf.list_models():
        kwargs = lcnet_tf.get_preset(name)["kwargs"]
        if kwargs["stem"] == stem and block_type in (None, kwargs["block_type"]):
            names.append(name)
    return names


GATINGS = ("none", "layer", "channel", "lc")


def registry_suite(cases, full_cases, fit_cases):
    """Fixture and tests for `(name, gating)` cases, to assign into a test module's globals.

    Every case gets config round-trip, `.keras` save/load and FLOPs checks; `full_cases`
    also get gradients, batch-1 == batched and uint8 == float; `fit_cases` also one `fit`
    step. One model is built per case and shared by its tests (module scope), so each
    pytest-xdist worker (`--dist loadfile`) builds it once.

    Example (in tests/models/test_x.py):
        >>> globals().update(harness.registry_suite(CASES, FULL_CASES, FIT_CASES))
    """
    import pytest

    def ids(case_list):
        return [f"{name}-{gating}" for name, gating in case_list]

    assert set(full_cases) <= set(cases) and set(fit_cases) <= set(cases)
    full_cases, fit_cases = sorted(full_cases), sorted(fit_cases)

    @pytest.fixture(scope="module", params=cases, ids=ids(cases))
    def built(request):
        name, gating = request.param
        keras.utils.set_random_seed(0)
        model = randomize_batch_norm(lcnet_tf.create_model(name, gating=gating))
        images = sample_images(model)
        # Valid for the first tests only (config, save/load, FLOPs): later ones update BN
        # statistics (training-mode gradients) or weights (fit).
        return model, images, sample_labels(model), reference_outputs(model, images)

    full = pytest.mark.parametrize("built", full_cases, ids=ids(full_cases), indirect=True)
    fit = pytest.mark.parametrize("built", fit_cases, ids=ids(fit_cases), indirect=True)

    def test_config_round_trip(built):
        check_config_round_trip(built[0], built[1], built[3])

    def test_save_load(built, tmp_path):
        check_save_load(built[0], built[1], str(tmp_path), built[3])

    def test_flops(built):
        check_flops(built[0], built[1], built[3])

    @full
    def test_gradients(built):
        check_gradients(*built[:3])

    @full
    def test_batch1_matches_batched(built):
        model, images = built[:2]
        saved = gate_weights(model)
        try:
            assert_decisions_differ(model, *mix_decisions(model, images))
            check_batch1_matches_batched(model, images)
        finally:
            set_gate_weights(model, saved)

    @full
    def test_uint8_equals_float(built):
        check_uint8_equals_float(built[0], built[1])

    @fit
    def test_fit_step(built):  # last: it changes the weights of the shared model
        check_fit_step(*built[:3])

    return {
        "built": built,
        "test_config_round_trip": test_config_round_trip,
        "test_save_load": test_save_load,
        "test_flops": test_flops,
        "test_gradients": test_gradients,
        "test_batch1_matches_batched": test_batch1_matches_batched,
        "test_uint8_equals_float": test_uint8_equals_float,
        "test_fit_step": test_fit_step,
    }


def varied_cascade(stage_gatings=("none", "none"), widths=(0.25, 0.5), batch=16, seed=0):
    """A ResNet-8 `Cascade` from the registry whose decisions vary per image, and its images.

    Stages get random BatchNorm statistics; a gated stage (L or LC) gets random gates that
    run each block on about half of the images; the exit threshold is the median top-2
    margin of the first stage, so about half of the images escalate.

    Returns:
        `(cascade, images)`.
    """
    from lcnet_tf.export.gate_patterns import randomize_gates

    keras.utils.set_random_seed(seed)
    cascade = lcnet_tf.create_model("resnet8", gating="cascade", cascade_widths=widths,
                                    cascade_gatings=stage_gatings)
    images = sample_images(cascade, batch=batch, seed=seed + 1)
    for index, stage in enumerate(cascade.stages):
        randomize_batch_norm(stage, seed=seed + index)
        if stage.gating in ("layer", "lc"):
            randomize_gates(stage, seed=seed + index, block_keep_prob=0.5, images=images)
    cascade.set_thresholds([median_margin(cascade.stages[0], images)])
    return cascade, images


def median_margin(model, images):
    """The median top-1 minus top-2 probability of `model` on `images`."""
    ordered = np.sort(to_np(keras.ops.softmax(model(images, training=False))), axis=1)
    return float(np.median(ordered[:, -1] - ordered[:, -2]))
