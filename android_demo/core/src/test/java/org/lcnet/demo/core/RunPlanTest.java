package org.lcnet.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The rows of a run with and without a budget, their names, and the knob summary. */
public class RunPlanTest {
  static Map<String, BudgetKnob> knobs() {
    Map<String, BudgetKnob> knobs = new LinkedHashMap<>();
    knobs.put("dynamic", BudgetKnobTest.knob());
    knobs.put("dynamic_int8", BudgetKnobTest.knob());
    return knobs;
  }

  static List<String> names(List<RunPlan.Entry> entries) {
    List<String> names = new ArrayList<>();
    for (RunPlan.Entry entry : entries) {
      names.add(entry.name);
    }
    return names;
  }

  @Test
  public void knobRowsAreNamedAsPythonsBenchmarkNamesThem() {
    // lcnet_tf.export.benchmark.knob_row_name(budget) + the precision suffix.
    assertEquals("dynamic@0.400", RunPlan.knobRowName("dynamic", 0.4));
    assertEquals("dynamic@0.350_int8", RunPlan.knobRowName("dynamic_int8", 0.35));
    // Python's rounding of the binary value: f"{0.1245:.3f}" is "0.124", f"{0.3125:.3f}" "0.312".
    assertEquals("dynamic@0.124_fp16", RunPlan.knobRowName("dynamic_fp16", 0.1245));
    assertEquals("dynamic@0.312", RunPlan.knobRowName("dynamic", 0.3125));
    assertEquals("_int8", RunPlan.precisionSuffix("dynamic@0.350_int8"));
    assertEquals("", RunPlan.precisionSuffix("dynamic@0.350"));
  }

  @Test
  public void withoutABudgetEveryModelRunsServe() {
    List<RunPlan.Entry> plan = RunPlan.of(Arrays.asList("static", "dynamic"), knobs(),
        Double.NaN);
    assertEquals(Arrays.asList("static", "dynamic"), names(plan));
    for (RunPlan.Entry entry : plan) {
      assertEquals("serve", entry.signatureKey());
      assertFalse(entry.isKnobRow());
      assertNull(entry.setting);
    }
  }

  @Test
  public void aBudgetAddsAServeBudgetRowAfterEachSelectedKnobFile() {
    List<RunPlan.Entry> plan = RunPlan.of(Arrays.asList("static", "dynamic", "static_int8",
        "dynamic_int8"), knobs(), 0.35);
    assertEquals(Arrays.asList("static", "dynamic", "dynamic@0.350", "static_int8",
        "dynamic_int8", "dynamic@0.350_int8"), names(plan));
    RunPlan.Entry knobRow = plan.get(2);
    assertEquals("dynamic", knobRow.model);
    assertEquals("serve_budget", knobRow.signatureKey());
    assertTrue(knobRow.isKnobRow());
    assertArrayEquals(BudgetKnobTest.knob().lookup(0.35).decisionValues(),
        knobRow.setting.decisionValues(), 0.0);
    assertEquals("dynamic_int8", plan.get(5).model);
    assertEquals(2, RunPlan.knobRows(plan).size());
    // Knob files that are not selected do not run.
    assertEquals(Arrays.asList("static"), names(RunPlan.of(Arrays.asList("static"), knobs(),
        0.35)));
  }

  @Test
  public void aBudgetOutsideAKnobFilesRangeIsAnError() {
    String message = assertThrows(IllegalArgumentException.class, () -> RunPlan.of(
        Arrays.asList("dynamic"), knobs(), 0.7)).getMessage();
    assertTrue(message, message.startsWith("Invalid value for budget: expected a number in "
        + "[0.3000, 0.6000] (the budgets knob.tflite's table"));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> RunPlan.of(
        Arrays.asList("dynamic", "dynamic@0.350"), knobs(), 0.35)).getMessage()
        .contains("is both a model and the knob row of dynamic"));
  }

  @Test
  public void theKnobSummarySetsEachKnobRowBesideTheStaticModelOfItsPrecision() {
    List<RunPlan.Entry> plan = RunPlan.of(Arrays.asList("static", "dynamic"), knobs(), 0.35);
    Map<String, ModelRecord> records = new LinkedHashMap<>();
    for (String name : names(plan)) {
      ModelRecord record = new ModelRecord(name, 2, 1);
      boolean isStatic = name.equals("static");
      for (int i = 0; i < 2; i++) {
        record.latencyMs[i] = isStatic ? 1.0 : 0.5;
        record.flops[i] = isStatic ? 40e6 : 14e6;
        record.correct[i] = isStatic || i == 0;
        record.gate[i] = new float[] {1};
      }
      records.put(name, record);
    }
    Summary summary = Summary.compute(records, "static");
    assertEquals("dynamic@0.350: accuracy 0.5000, 14.00 MFLOPs (table: 14.19 expected), 0.500 ms;"
        + " static: 1.0000, 40.00 MFLOPs, 1.000 ms -> 2.00x faster at 35.0% of its FLOPs",
        RunPlan.knobLines(summary, plan));
    // Python's same_precision_rows has no "static@0.350": neither has the core's summary.
    assertEquals(Arrays.asList("dynamic"), new ArrayList<>(summary.samePrecision.keySet()));
    assertTrue(Report.table(summary), Report.table(summary).contains(
        "\ndynamic@0.350        0.5000    14.00   35.0%"));
    JsonObject json = JsonParser.parseString(Report.toJson(RunPlan.knobJson(plan)))
        .getAsJsonObject().getAsJsonObject("dynamic@0.350");
    assertEquals("dynamic", json.get("model").getAsString());
    assertEquals("serve_budget", json.get("signature").getAsString());
    assertEquals(0.35, json.get("budget").getAsDouble(), 0.0);
    assertFalse(json.get("exact").getAsBoolean());
  }
}
