package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What one benchmark run times: a row per selected model (its "serve" signature), plus, when a
 * budget is chosen, a row per selected knob file at that budget (its "serve_budget" signature
 * with the decisions its table gives), right after the model's own row.
 *
 * <p>Knob rows are named as {@code python -m tflite.benchmark --budgets} names them ({@code
 * lcnet_tf.export.benchmark.knob_row_name}): {@code dynamic@0.400}, {@code dynamic@0.400_int8}
 * (role, {@code @}, the budget to 3 decimals, then the precision suffix). They go through the
 * same protocol, summary and table as every other row; {@link #knobLines} compares each with the
 * static row of its precision.
 */
public final class RunPlan {
  /** Precision suffixes of model names, as Python's {@code split_model_name} knows them. */
  public static final List<String> PRECISION_SUFFIXES =
      Collections.unmodifiableList(Arrays.asList("_int8", "_fp16", "_dynamic"));

  /** One row of the run. */
  public static final class Entry {
    /** The row's name in the table (the model's name, or its knob row name). */
    public final String name;
    /** The manifest model whose file runs. */
    public final String model;
    /** The file's knob for a knob row; null for a "serve" row. */
    public final BudgetKnob knob;
    /** The budget's decisions for a knob row; null for a "serve" row. */
    public final BudgetKnob.Setting setting;

    Entry(String name, String model, BudgetKnob knob, BudgetKnob.Setting setting) {
      this.name = name;
      this.model = model;
      this.knob = knob;
      this.setting = setting;
    }

    /** The signature this row runs: "serve", or "serve_budget" for a knob row. */
    public String signatureKey() {
      return setting == null ? ModelContract.SIGNATURE_KEY : ModelContract.KNOB_SIGNATURE_KEY;
    }

    public boolean isKnobRow() {
      return setting != null;
    }
  }

  private RunPlan() {}

  /**
   * The rows of a run.
   *
   * @param models the selected models, in display order
   * @param knobs the knob files the budget applies to (model name -> knob: {@link
   *     BudgetSlider#knobs}); models not in it run "serve" only
   * @param budget the chosen budget; NaN for none (no knob rows)
   * @throws IllegalArgumentException a budget outside a selected knob file's range (the message
   *     names the file, the value and the range), or a knob row name that is already a model
   */
  public static List<Entry> of(List<String> models, Map<String, BudgetKnob> knobs,
      double budget) {
    List<Entry> entries = new ArrayList<>();
    for (String model : models) {
      entries.add(new Entry(model, model, null, null));
      BudgetKnob knob = knobs.get(model);
      if (knob == null || Double.isNaN(budget)) {
        continue;
      }
      String name = knobRowName(model, budget);
      if (models.contains(name)) {
        throw new IllegalArgumentException("Invalid value for models: \"" + name + "\" is both a "
            + "model and the knob row of " + model + " at budget " + budget + ".");
      }
      entries.add(new Entry(name, model, knob, knob.lookup(budget)));
    }
    return entries;
  }

  /** {@code dynamic_int8} at 0.4 -> {@code dynamic@0.400_int8} (Python's knob row name). */
  public static String knobRowName(String model, double budget) {
    String suffix = precisionSuffix(model);
    return model.substring(0, model.length() - suffix.length()) + "@" + Fmt.fixed(budget, 3)
        + suffix;
  }

  /** {@code "_int8"} for {@code dynamic_int8} and {@code dynamic@0.400_int8}; "" for float. */
  public static String precisionSuffix(String name) {
    for (String suffix : PRECISION_SUFFIXES) {
      if (name.endsWith(suffix)) {
        return suffix;
      }
    }
    return "";
  }

  /** Only the knob rows of {@code entries}. */
  public static List<Entry> knobRows(List<Entry> entries) {
    List<Entry> rows = new ArrayList<>();
    for (Entry entry : entries) {
      if (entry.isKnobRow()) {
        rows.add(entry);
      }
    }
    return rows;
  }

  /**
   * The knob rows for report.json's metadata: row name -> {@link BudgetKnob#toJson} of its
   * setting, plus the model it ran.
   */
  public static Map<String, Object> knobJson(List<Entry> entries) {
    Map<String, Object> rows = new LinkedHashMap<>();
    for (Entry entry : knobRows(entries)) {
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("model", entry.model);
      json.putAll(entry.knob.toJson(entry.setting));
      rows.put(entry.name, json);
    }
    return rows;
  }

  /**
   * One line per knob row of a finished run, beside the static row of its precision:
   * {@code "dynamic@0.350: accuracy 0.9012, 14.22 MFLOPs (table: 14.19 expected), 0.412 ms;
   * static: 0.9230, 40.56 MFLOPs, 0.903 ms -> 2.19x faster at 35.1% of its FLOPs"}. The
   * realized FLOPs are the model's own output on the test images; the table's expectation was
   * measured on training images, so the two differ a little.
   */
  public static String knobLines(Summary summary, List<Entry> entries) {
    List<String> lines = new ArrayList<>();
    for (Entry entry : knobRows(entries)) {
      Summary.Row row = summary.rows.get(entry.name);
      if (row == null) {
        continue;
      }
      StringBuilder line = new StringBuilder(entry.name).append(": accuracy ")
          .append(Fmt.fixed(row.accuracy, 4)).append(", ")
          .append(Fmt.fixed(row.meanFlops / 1e6, 2)).append(" MFLOPs (table: ")
          .append(Fmt.fixed(entry.setting.expectedFlops / 1e6, 2)).append(" expected), ")
          .append(Fmt.fixed(row.latencyMean, 3)).append(" ms");
      String staticName = "static" + precisionSuffix(entry.name);
      Summary.Row stat = summary.rows.get(staticName);
      if (stat != null) {
        line.append("; ").append(staticName).append(": ").append(Fmt.fixed(stat.accuracy, 4))
            .append(", ").append(Fmt.fixed(stat.meanFlops / 1e6, 2)).append(" MFLOPs, ")
            .append(Fmt.fixed(stat.latencyMean, 3)).append(" ms -> ")
            .append(Fmt.fixed(stat.latencyMean / row.latencyMean, 2)).append("x faster at ")
            .append(Fmt.fixed(100 * row.meanFlops / stat.meanFlops, 1)).append("% of its FLOPs");
      }
      lines.add(line.toString());
    }
    return String.join("\n", lines);
  }
}
