package org.lcnet.demo.core;

import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a .tflite file's budget table as the app does ({@link BudgetKnob#find} on its bytes) and
 * prints, as JSON, the table and the lookup of each budget given, so that tests/android_demo can
 * compare them with Python's {@code read_budget_table(path).lookup(budget)}. Doubles are printed
 * exactly (Gson writes the shortest text that reads back as the same double).
 *
 * <pre>java ... KnobCheck knob.tflite 0.3 0.35 NaN</pre>
 *
 * <p>Prints {@code {"knob": null}} for a plain file, {@code {"error": ...}} (exit 1) for a
 * corrupt file or table; a lookup that fails is {@code {"budget": text, "error": message}}.
 */
public final class KnobCheck {
  private KnobCheck() {}

  public static void main(String[] args) throws Exception {
    Map<String, Object> out = new LinkedHashMap<>();
    BudgetKnob knob;
    try {
      knob = BudgetKnob.find(Paths.get(args[0]).getFileName().toString(),
          Files.readAllBytes(Paths.get(args[0])));
    } catch (ContractException e) {
      out.put("error", e.getMessage());
      System.out.println(Report.toJson(out));
      System.exit(1);
      return;
    }
    if (knob == null) {
      out.put("knob", null);
      System.out.println(Report.toJson(out));
      return;
    }
    Map<String, Object> table = new LinkedHashMap<>();
    table.put("decision_names", new ArrayList<Object>(knob.decisionNames));
    table.put("reference_flops", knob.referenceFlops);
    table.put("num_images", knob.numImages);
    table.put("range", new double[] {knob.minBudget(), knob.maxBudget()});
    table.put("default", row(knob.defaultRow));
    List<Object> rows = new ArrayList<>();
    for (BudgetKnob.Row row : knob.rows) {
      rows.add(row(row));
    }
    table.put("rows", rows);
    out.put("knob", table);
    List<Object> lookups = new ArrayList<>();
    for (int i = 1; i < args.length; i++) {
      Map<String, Object> lookup = new LinkedHashMap<>();
      lookup.put("budget", args[i]);
      try {
        BudgetKnob.Setting setting = knob.lookup(Double.parseDouble(args[i]));
        lookup.put("decisions", setting.decisionValues());
        lookup.put("float32", setting.decisions());
        lookup.put("expected_flops", setting.expectedFlops);
        lookup.put("exact", setting.exact);
        lookup.put("text", knob.describe(setting));
      } catch (IllegalArgumentException e) {
        lookup.put("error", e.getMessage());
      }
      lookups.add(lookup);
    }
    out.put("lookups", lookups);
    System.out.println(Report.toJson(out));
  }

  private static Map<String, Object> row(BudgetKnob.Row row) {
    Map<String, Object> entry = new LinkedHashMap<>();
    entry.put("budget", row.budget);
    entry.put("decisions", row.decisions());
    entry.put("mean_flops", row.meanFlops);
    return entry;
  }
}
