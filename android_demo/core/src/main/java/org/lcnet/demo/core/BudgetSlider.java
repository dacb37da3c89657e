package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The budget slider of the app: integer positions (Android's {@code SeekBar} progress, 0 to
 * {@link #maxProgress}) mapped to budgets, and the text shown under it. The app only wires the
 * widget; what a position means is decided here.
 *
 * <p>The positions are the multiples of {@code step} (default {@value #DEFAULT_STEP}) inside the
 * range, plus both ends, every calibrated row and the default budget: so the slider can land on
 * each row exactly (a row's own decisions, no interpolation). With several knob files (e.g.
 * {@code dynamic} and {@code dynamic_int8}) one slider turns them all: its range is the
 * intersection of theirs; a file whose range does not meet the others' is left out ({@link
 * #excluded}, with the reason) and runs its "serve" signature only.
 */
public final class BudgetSlider {
  /** The slider's step between calibrated rows, as a fraction of the reference FLOPs. */
  public static final double DEFAULT_STEP = 0.005;

  /** The knob files the slider turns, by model name, in the order given. */
  public final Map<String, BudgetKnob> knobs;
  /** Knob files left out (model name -> why). */
  public final Map<String, String> excluded;
  /** The lowest budget (position 0). */
  public final double min;
  /** The highest budget (position {@link #maxProgress}). */
  public final double max;
  private final double[] budgets;

  private BudgetSlider(Map<String, BudgetKnob> knobs, Map<String, String> excluded, double min,
      double max, double[] budgets) {
    this.knobs = Collections.unmodifiableMap(knobs);
    this.excluded = Collections.unmodifiableMap(excluded);
    this.min = min;
    this.max = max;
    this.budgets = budgets;
  }

  /** {@link #of(Map, double)} with {@link #DEFAULT_STEP}. */
  public static BudgetSlider of(Map<String, BudgetKnob> knobs) {
    return of(knobs, DEFAULT_STEP);
  }

  /**
   * The slider over the knob files {@code knobs} (model name -> its knob, e.g. from {@link
   * BudgetKnob#find} on each model of the manifest).
   *
   * @throws IllegalArgumentException no knob, or a step that is not in (0, 1]
   */
  public static BudgetSlider of(Map<String, BudgetKnob> knobs, double step) {
    if (knobs.isEmpty()) {
      throw new IllegalArgumentException("Invalid value for knobs: expected at least one knob "
          + "file.");
    }
    if (!(step > 0 && step <= 1)) {
      throw new IllegalArgumentException("Invalid value for step: expected 0 < step <= 1. "
          + "Received: " + step);
    }
    Map<String, BudgetKnob> kept = new LinkedHashMap<>();
    Map<String, String> excluded = new LinkedHashMap<>();
    double min = Double.NEGATIVE_INFINITY;
    double max = Double.POSITIVE_INFINITY;
    for (Map.Entry<String, BudgetKnob> entry : knobs.entrySet()) {
      BudgetKnob knob = entry.getValue();
      double low = Math.max(min, knob.minBudget());
      double high = Math.min(max, knob.maxBudget());
      if (low > high) {
        excluded.put(entry.getKey(), knob.file + " covers the budgets [" + Fmt.fixed(
            knob.minBudget(), 3) + ", " + Fmt.fixed(knob.maxBudget(), 3) + "], which do not meet "
            + "[" + Fmt.fixed(min, 3) + ", " + Fmt.fixed(max, 3) + "] of " + kept.keySet());
        continue;
      }
      kept.put(entry.getKey(), knob);
      min = low;
      max = high;
    }
    // Candidates by priority: the ends and the rows (0), the defaults (1), the grid (2).
    List<double[]> candidates = new ArrayList<>();
    candidates.add(new double[] {min, 0});
    candidates.add(new double[] {max, 0});
    for (BudgetKnob knob : kept.values()) {
      for (BudgetKnob.Row row : knob.rows) {
        candidates.add(new double[] {row.budget, 0});
      }
      candidates.add(new double[] {knob.defaultRow.budget, 1});
    }
    // k * step rounded to 1e-9: 0.35, not 0.35000000000000003.
    for (long k = (long) Math.ceil(min / step); k * step <= max; k++) {
      candidates.add(new double[] {Math.rint(k * step * 1e9) / 1e9, 2});
    }
    Collections.sort(candidates, (a, b) -> Double.compare(a[0], b[0]));
    List<double[]> merged = new ArrayList<>();
    for (double[] candidate : candidates) {
      if (candidate[0] < min || candidate[0] > max) {
        continue;
      }
      double[] last = merged.isEmpty() ? null : merged.get(merged.size() - 1);
      if (last != null && candidate[0] - last[0] <= BudgetKnob.ROW_TOLERANCE) {
        if (candidate[1] < last[1]) {
          merged.set(merged.size() - 1, candidate);
        }
      } else {
        merged.add(candidate);
      }
    }
    double[] budgets = new double[merged.size()];
    for (int i = 0; i < budgets.length; i++) {
      budgets[i] = merged.get(i)[0];
    }
    return new BudgetSlider(kept, excluded, min, max, budgets);
  }

  /** The highest position ({@code SeekBar.setMax}); position 0 is {@link #min}. */
  public int maxProgress() {
    return budgets.length - 1;
  }

  /** Every position's budget, in order. */
  public double[] budgets() {
    return budgets.clone();
  }

  /** The budget at {@code progress} (clamped to the positions). */
  public double budgetAt(int progress) {
    return budgets[Math.max(0, Math.min(budgets.length - 1, progress))];
  }

  /**
   * The position nearest {@code budget} (a launch extra, a budget kept across runs).
   *
   * @throws IllegalArgumentException a budget that is not finite or outside [{@link #min}, {@link
   *     #max}] (by more than {@link BudgetKnob#ROW_TOLERANCE})
   */
  public int progressOf(double budget) {
    if (!(Double.isFinite(budget) && budget >= min - BudgetKnob.ROW_TOLERANCE
        && budget <= max + BudgetKnob.ROW_TOLERANCE)) {
      throw new IllegalArgumentException("Invalid value for budget: expected a number in ["
          + Fmt.fixed(min, 4) + ", " + Fmt.fixed(max, 4) + "] (the budgets " + knobs.keySet()
          + " were calibrated for). Received: " + budget);
    }
    int index = Arrays.binarySearch(budgets, budget);
    if (index >= 0) {
      return index;
    }
    int above = -index - 1;
    if (above == 0) {
      return 0;
    }
    if (above == budgets.length) {
      return budgets.length - 1;
    }
    return budget - budgets[above - 1] <= budgets[above] - budget ? above - 1 : above;
  }

  /**
   * Where the slider starts: the first knob file's default budget (the decisions its "serve"
   * signature runs), or the nearest end when it lies outside the range.
   */
  public int initialProgress() {
    double budget = knobs.values().iterator().next().defaultRow.budget;
    return progressOf(Math.max(min, Math.min(max, budget)));
  }

  /**
   * The text under the slider at {@code progress}: one line per knob file, {@code "dynamic:
   * budget 0.350 (14.19 of 40.56 reference MFLOPs expected): offset -0.1234; between the
   * calibrated budgets 0.300 and 0.400"}.
   */
  public String label(int progress) {
    return describe(budgetAt(progress));
  }

  /**
   * The same text for any budget in the range (a {@code budget} launch extra, which runs as
   * given rather than at the nearest position).
   *
   * @throws IllegalArgumentException a budget outside a knob file's range
   */
  public String describe(double budget) {
    List<String> lines = new ArrayList<>();
    for (Map.Entry<String, BudgetKnob> entry : knobs.entrySet()) {
      BudgetKnob knob = entry.getValue();
      lines.add(entry.getKey() + ": " + knob.describe(knob.lookup(budget)));
    }
    return String.join("\n", lines);
  }
}
