"""FLOPs-budget maths: realized/expected FLOPs ratios, budget penalty, target rates.

Every function here is pure (tensors or arrays in, tensors out). The cost
vectors come from `lcnet_tf.flops.cost_table`; per image, a gated model runs

    flops = fixed + sum_b(always_b + gate_b * controlled_b),
    controlled_b = run_b + kept_groups_b * per_group_b,

so each block gate is weighted by the FLOPs it controls: its block's branch,
with that image's kept channel groups. The FLOPs *ratio* divides by the
backbone FLOPs (the ungated network, all channels).

`LinearWarmup` is a serializable schedule of the training step for penalty
weights (it subclasses `keras.optimizers.schedules.LearningRateSchedule` so
Keras serializes it like any learning-rate schedule).
"""

import keras
import numpy as np
from keras import ops

OVER_BUDGET_WEIGHT = 20.0
SYMMETRIC_WEIGHT = 2.0


def realized_flops(gate, kept_groups, fixed, always, run, per_group):
    """Per-image FLOPs: `fixed + sum_b(always_b + gate_b * (run_b + kept_groups_b * per_group_b))`.

    The one place the realized-FLOPs formula is written: the model's gate info,
    the training penalty (`flops_ratio`), `lcnet_tf.flops` and the reports all
    call it. Numpy inputs give a numpy result in their own precision (exact
    integer counts for int arrays); tensors give a tensor.

    Args:
        gate: (batch, blocks) 1 if the block ran (or keep probabilities).
        kept_groups: (batch, blocks) channel groups computed (0 without a channel gate).
        fixed: scalar FLOPs every image runs outside the blocks.
        always: (blocks,) FLOPs that run whether or not the block runs.
        run: (blocks,) FLOPs that run with the block (ungrouped part).
        per_group: (blocks,) FLOPs of one kept channel group.

    Returns:
        (batch,) FLOPs.

    Example:
        >>> realized_flops(np.array([[1, 0]]), np.array([[0, 0]]), 10, np.array([0, 0]),
        ...                np.array([45, 45]), np.array([0, 0]))  # [55]
    """
    per_block = always + gate * (run + kept_groups * per_group)
    if isinstance(per_block, np.ndarray):
        return fixed + per_block.sum(axis=-1)
    return fixed + ops.sum(per_block, axis=-1)


def flops_ratio(gate, kept_groups, fixed, always, run, per_group, backbone):
    """Per-image FLOPs ratio from block decisions (or keep probabilities).

    With hard decisions in `gate` this is the realized ratio (and the gradient
    flows through a straight-through gate); with keep probabilities it is the
    expected ratio. Each gate is weighted by the FLOPs it controls.

    Args:
        gate: (batch, blocks) block decisions or keep probabilities; 1 for
            blocks without a block gate.
        kept_groups: (batch, blocks) kept channel groups (0 without a channel gate).
        fixed: scalar FLOPs every image runs outside the blocks.
        always: (blocks,) FLOPs that run whether or not the block runs.
        run: (blocks,) FLOPs that run with the block (ungrouped part).
        per_group: (blocks,) FLOPs of one kept channel group.
        backbone: scalar FLOPs of the ungated backbone.

    Returns:
        Float tensor (batch,) of FLOPs ratios.

    Example:
        >>> flops_ratio([[1.0, 0.0]], [[0.0, 0.0]], 10.0, [0.0, 0.0], [45.0, 45.0],
        ...             [0.0, 0.0], 100.0)  # [0.55]
    """
    gate = ops.convert_to_tensor(gate, "float32")
    kept_groups = ops.cast(ops.convert_to_tensor(kept_groups), gate.dtype)
    always = ops.cast(ops.convert_to_tensor(always), gate.dtype)
    run = ops.cast(ops.convert_to_tensor(run), gate.dtype)
    per_group = ops.cast(ops.convert_to_tensor(per_group), gate.dtype)
    return realized_flops(gate, kept_groups, fixed, always, run, per_group) / backbone


def budget_penalty(ratio, budget, over_weight=OVER_BUDGET_WEIGHT,
                   symmetric_weight=SYMMETRIC_WEIGHT):
    """Penalty on the batch-mean FLOPs ratio: strong above the budget, mild around it.

    `over_weight * max(0, mean - budget)^2 + symmetric_weight * (mean - budget)^2`.
    The symmetric term keeps the network from drifting far below the budget
    (which would waste accuracy); the asymmetric one makes overshooting costly.

    Args:
        ratio: (batch,) per-image FLOPs ratios (differentiable through the gates).
        budget: scalar target ratio.
        over_weight: weight of the over-budget term, >= 0.
        symmetric_weight: weight of the two-sided term, >= 0.

    Returns:
        Scalar tensor.

    Example:
        >>> budget_penalty([0.6, 0.4], 0.4)  # 20 * 0.01 + 2 * 0.01 = 0.22
    """
    ratio = ops.convert_to_tensor(ratio, "float32")
    excess = ops.mean(ratio) - ops.cast(budget, ratio.dtype)
    return over_weight * ops.square(ops.relu(excess)) + symmetric_weight * ops.square(excess)


def uniform_target_rate(budget, fixed, always, controlled, block_gated, backbone):
    """The one execution rate r* of every gated block that meets the budget.

    Solves `fixed + sum(always) + sum_ungated(controlled) + r * sum_gated(controlled)
    = budget * backbone` for r and clips it to [0, 1] (ConvNet-AIG's target rate,
    made uniform across blocks).

    Args:
        budget: scalar target FLOPs ratio.
        fixed: scalar FLOPs outside the blocks.
        always: (blocks,) FLOPs that run whether or not the block runs.
        controlled: (blocks,) FLOPs a running block adds (branch with its kept groups).
        block_gated: (blocks,) 1 for blocks with a block gate, else 0.
        backbone: scalar backbone FLOPs.

    Returns:
        Scalar float tensor in [0, 1]; 1 when no block is gated.

    Example:
        >>> uniform_target_rate(0.5, 10.0, [0.0, 0.0], [45.0, 45.0], [1.0, 1.0], 100.0)
        0.444...
    """
    always = ops.convert_to_tensor(always, "float32")
    controlled = ops.cast(ops.convert_to_tensor(controlled), "float32")
    block_gated = ops.cast(ops.convert_to_tensor(block_gated), "float32")
    base = fixed + ops.sum(always) + ops.sum((1.0 - block_gated) * controlled)
    gated = ops.sum(block_gated * controlled)
    budget = ops.cast(budget, "float32")
    rate = ops.divide_no_nan(budget * backbone - base, gated)
    rate = ops.where(gated > 0, rate, ops.ones_like(rate))
    return ops.clip(rate, 0.0, 1.0)


def target_rate_loss(keep_prob, target_rate, block_gated):
    """Mean over gated blocks of `(batch-mean keep_prob_b - target_rate)^2`.

    Pulls every gated block's execution rate towards the same target, so the
    budget cannot be met by switching some blocks off for every image (static
    pruning); which images run a block is left to the task loss.

    Args:
        keep_prob: (batch, blocks) keep probabilities.
        target_rate: scalar target execution rate.
        block_gated: (blocks,) 1 for blocks with a block gate, else 0.

    Returns:
        Scalar tensor; 0 when no block is gated.

    Example:
        >>> target_rate_loss([[1.0, 0.5], [0.0, 0.5]], 0.5, [1.0, 1.0])  # 0
    """
    keep_prob = ops.convert_to_tensor(keep_prob, "float32")
    block_gated = ops.cast(ops.convert_to_tensor(block_gated), keep_prob.dtype)
    rates = ops.mean(keep_prob, axis=0)
    squared = block_gated * ops.square(rates - ops.cast(target_rate, keep_prob.dtype))
    return ops.divide_no_nan(ops.sum(squared), ops.sum(block_gated))


def distillation_loss(student_logits, teacher_logits, temperature=4.0):
    """Batch mean of `T^2 * KL(softmax(teacher / T) || softmax(student / T))` (Hinton et al.).

    The `T^2` factor keeps the gradient scale independent of the temperature.

    Args:
        student_logits: (batch, classes).
        teacher_logits: (batch, classes); no gradient flows into them.
        temperature: softmax temperature T > 0.

    Returns:
        Scalar tensor, 0 when the two agree.

    Example:
        >>> distillation_loss([[2.0, 0.0]], [[2.0, 0.0]])  # 0
    """
    student = ops.convert_to_tensor(student_logits, "float32") / temperature
    teacher = ops.stop_gradient(ops.convert_to_tensor(teacher_logits, "float32")) / temperature
    teacher_log_probs = ops.log_softmax(teacher, axis=-1)
    student_log_probs = ops.log_softmax(student, axis=-1)
    kl = ops.sum(ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
    return temperature**2 * ops.mean(kl)


@keras.saving.register_keras_serializable(package="lcnet_tf")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """A value that ramps linearly from `initial_value` to `value` over `warmup_steps`.

    Used for penalty weights (e.g. let the gates settle before the budget bites).
    A serializable callable of the training step, like a learning-rate schedule.

    Args:
        value: final value.
        warmup_steps: steps of the ramp; 0 means constant `value`.
        initial_value: value at step 0.

    Example:
        >>> weight = LinearWarmup(5.0, warmup_steps=100)
        >>> float(weight(50))
        2.5
    """

    def __init__(self, value, warmup_steps=0, initial_value=0.0):
        if not (isinstance(warmup_steps, int) and warmup_steps >= 0):
            raise ValueError(
                "Invalid value for `warmup_steps`: expected an int >= 0. "
                f"Received: warmup_steps={warmup_steps!r}"
            )
        self.value = float(value)
        self.warmup_steps = warmup_steps
        self.initial_value = float(initial_value)

    def __call__(self, step):
        if self.warmup_steps == 0:
            return ops.convert_to_tensor(self.value, "float32")
        progress = ops.minimum(ops.cast(step, "float32") / float(self.warmup_steps), 1.0)
        return self.initial_value + (self.value - self.initial_value) * progress

    def get_config(self):
        return {
            "value": self.value,
            "warmup_steps": self.warmup_steps,
            "initial_value": self.initial_value,
        }
