"""Cascade maths: how confident a stage is, and how the stages' predictions combine.

A cascade runs a small network on every image and passes the image on to the next, larger
network only when the prediction so far is not confident enough (`lcnet_tf.models.Cascade`).
Every function here is pure: tensors in, tensors out.

Conventions:
- A stage's prediction is a probability vector (softmax of its logits).
- With `ensemble=True` the prediction after stage i is the mean of the probabilities of
  stages 0..i (the escalated image keeps what the cheaper stages already computed).
- An image *escalates* past stage i when its confidence is strictly below the stage's
  threshold; an exact tie exits.
"""

from keras import ops

CONFIDENCES = ("margin", "max")


def check_confidence(confidence):
    """Raises ValueError unless `confidence` is one of `CONFIDENCES`."""
    if confidence not in CONFIDENCES:
        raise ValueError(
            f"Invalid value for `confidence`: expected one of {CONFIDENCES}. "
            f"Received: confidence={confidence!r}"
        )


def prediction_confidence(probabilities, confidence="margin"):
    """How sure a prediction is, per image.

    Args:
        probabilities: (batch, classes) probabilities (rows sum to 1).
        confidence: "margin" (top-1 minus top-2 probability: low when two classes compete)
            or "max" (the top-1 probability).

    Returns:
        (batch,) float tensor in [0, 1].

    Example:
        >>> prediction_confidence(keras.ops.convert_to_tensor([[0.6, 0.3, 0.1]]))  # [0.3]
    """
    check_confidence(confidence)
    if confidence == "max":
        return ops.max(probabilities, axis=-1)
    top, _ = ops.top_k(probabilities, 2)
    return top[:, 0] - top[:, 1]


def combined_probabilities(previous, probabilities, stage_index, ensemble=True):
    """The prediction after stage `stage_index` (0-based).

    Args:
        previous: the prediction after the stage before (ignored for stage 0 or without
            `ensemble`).
        probabilities: this stage's probabilities.
        stage_index: how many stages ran before this one.
        ensemble: average with the stages before (a running mean) instead of replacing.

    Returns:
        (batch, classes) probabilities.
    """
    if not ensemble or stage_index == 0:
        return probabilities
    return previous + (probabilities - previous) / float(stage_index + 1)


def escalate(confidence, threshold):
    """1.0 where the image goes on to the next stage (`confidence < threshold`), else 0.0."""
    return ops.cast(ops.less(confidence, threshold), confidence.dtype)


def cascade_decisions(stage_probabilities, thresholds, confidence="margin", ensemble=True,
                      force=None):
    """The escalation rule on every stage's probabilities, computed for every image.

    The one batched statement of the rule: `Cascade`'s batched path and `simulate_cascade`
    (NumPy, for calibration and knob curves) both call it; the batch-1 deployment graph
    takes the same decisions one `cond` at a time.

    Args:
        stage_probabilities: list (one per stage, cheapest first) of (batch, classes)
            probabilities, tensors or arrays.
        thresholds: `len(stages) - 1` confidence thresholds.
        confidence: see `prediction_confidence`.
        ensemble: see `combined_probabilities`.
        force: None, or a scalar/bool tensor: when true every image runs every stage.

    Returns:
        `(prediction (batch, classes), ran (batch, stages))`: the prediction of the last
        stage each image ran, and 1.0 where a stage ran.

    Example:
        >>> prediction, ran = cascade_decisions([p0, p1], [0.3])
    """
    prediction = outputs = alive = None
    ran_columns = []
    last = len(stage_probabilities) - 1
    for index, probabilities in enumerate(stage_probabilities):
        probabilities = ops.convert_to_tensor(probabilities, "float32")
        prediction = combined_probabilities(prediction, probabilities, index, ensemble)
        if alive is None:
            alive = ops.ones_like(probabilities[:, 0])
            outputs = prediction
        else:
            outputs = outputs + alive[:, None] * (prediction - outputs)
        ran_columns.append(alive)
        if index < last:
            go_on = escalate(prediction_confidence(prediction, confidence), thresholds[index])
            if force is not None:
                go_on = ops.maximum(go_on, ops.cast(force, go_on.dtype))
            alive = alive * go_on
    return outputs, ops.stack(ran_columns, axis=1)


def log_probabilities(probabilities, floor=1e-12):
    """`log(max(p, floor))`: logits whose softmax is `p` (up to the floor)."""
    return ops.log(ops.maximum(probabilities, floor))
