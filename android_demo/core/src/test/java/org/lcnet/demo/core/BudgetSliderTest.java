package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;

/** What each slider position means and the text under it. */
public class BudgetSliderTest {
  static BudgetKnob knob(String file, double... budgets) throws ContractException {
    StringBuilder rows = new StringBuilder();
    for (int i = 0; i < budgets.length; i++) {
      rows.append(i > 0 ? ", " : "").append("{\"budget\": ").append(budgets[i])
          .append(", \"decisions\": [").append(i - 1.5).append("], \"mean_flops\": ")
          .append(budgets[i] * 1e6).append("}");
    }
    return BudgetKnob.parse(file, "{\"format\": \"lcnet_budget_table\", \"version\": 1, "
        + "\"signature\": \"serve_budget\", \"input\": \"decisions\", \"decision_names\": "
        + "[\"offset\"], \"reference_flops\": 1000000, \"num_images\": 64, \"default\": "
        + "{\"budget\": 0.4213, \"decisions\": [0.0], \"mean_flops\": 421300.0}, \"rows\": ["
        + rows + "]}");
  }

  static BudgetSlider slider() {
    return BudgetSlider.of(Collections.singletonMap("dynamic", BudgetKnobTest.knob()));
  }

  @Test
  public void positionsRunFromTheFirstRowToTheLastInStepsOfHalfAPercent() {
    BudgetSlider slider = slider();  // rows 0.3, 0.4, 0.6; default 0.395
    assertEquals(60, slider.maxProgress());
    assertEquals(0.3, slider.min, 0.0);
    assertEquals(0.6, slider.max, 0.0);
    assertEquals(0.3, slider.budgetAt(0), 0.0);
    assertEquals(0.6, slider.budgetAt(60), 0.0);
    assertEquals(0.35, slider.budgetAt(10), 0.0);  // Rounded: not 0.35000000000000003.
    assertEquals(0.3, slider.budgetAt(-5), 0.0);   // Clamped.
    assertEquals(0.6, slider.budgetAt(99), 0.0);
    double[] budgets = slider.budgets();
    for (int i = 1; i < budgets.length; i++) {
      assertTrue(budgets[i] > budgets[i - 1]);
    }
  }

  @Test
  public void everyRowAndTheDefaultIsAPositionAndEveryPositionIsInRange()
      throws ContractException {
    BudgetKnob knob = knob("k.tflite", 0.2213, 0.3, 0.5377);
    BudgetSlider slider = BudgetSlider.of(Collections.singletonMap("dynamic", knob));
    double[] budgets = slider.budgets();
    for (BudgetKnob.Row row : knob.rows) {
      int position = slider.progressOf(row.budget);
      assertEquals(row.budget, slider.budgetAt(position), 0.0);
      assertTrue(knob.lookup(slider.budgetAt(position)).exact);
    }
    assertEquals(0.4213, slider.budgetAt(slider.initialProgress()), 0.0);
    assertEquals(0.2213, budgets[0], 0.0);
    assertEquals(0.225, budgets[1], 0.0);
    assertEquals(0.5377, budgets[budgets.length - 1], 0.0);
    for (int progress = 0; progress <= slider.maxProgress(); progress++) {
      knob.lookup(slider.budgetAt(progress));  // Never out of range.
    }
  }

  @Test
  public void progressOfFindsTheNearestPositionAndRefusesBudgetsOutside() {
    BudgetSlider slider = slider();
    assertEquals(10, slider.progressOf(0.35));
    assertEquals(10, slider.progressOf(0.3512));
    assertEquals(11, slider.progressOf(0.3538));
    assertEquals(0, slider.progressOf(0.3 - 1e-10));
    assertEquals(19, slider.initialProgress());  // The default, 0.395.
    for (double bad : new double[] {0.29, 0.61, Double.NaN}) {
      String message = assertThrows(IllegalArgumentException.class,
          () -> slider.progressOf(bad)).getMessage();
      assertEquals("Invalid value for budget: expected a number in [0.3000, 0.6000] (the budgets "
          + "[dynamic] were calibrated for). Received: " + bad, message);
    }
  }

  @Test
  public void theLabelSaysBudgetExpectedFlopsAndDecisionsPerKnobFile() {
    BudgetSlider slider = slider();
    assertEquals("dynamic: budget 0.400 (16.22 of 40.56 reference MFLOPs expected): "
        + "threshold_0 0.4200, stage1.offset 0.0000; calibrated row 2 of 3", slider.label(20));
    assertTrue(slider.label(10), slider.label(10).endsWith(
        "between the calibrated budgets 0.300 and 0.400"));
    assertEquals(slider.label(10), slider.describe(0.35));
    assertTrue(slider.describe(0.3512).startsWith("dynamic: budget 0.351 (14.24 of 40.56"));
    assertThrows(IllegalArgumentException.class, () -> slider.describe(0.7));
  }

  @Test
  public void oneSliderTurnsSeveralKnobFilesOverTheirCommonRange() throws ContractException {
    Map<String, BudgetKnob> knobs = new LinkedHashMap<>();
    knobs.put("dynamic", knob("dynamic.tflite", 0.2, 0.5));
    knobs.put("dynamic_int8", knob("dynamic_int8.tflite", 0.3, 0.6));
    knobs.put("dynamic_fp16", knob("dynamic_fp16.tflite", 0.55, 0.7));
    BudgetSlider slider = BudgetSlider.of(knobs);
    assertEquals(Arrays.asList("dynamic", "dynamic_int8"), Arrays.asList(
        slider.knobs.keySet().toArray()));
    assertEquals(0.3, slider.min, 0.0);
    assertEquals(0.5, slider.max, 0.0);
    assertEquals("dynamic_fp16.tflite covers the budgets [0.550, 0.700], which do not meet "
        + "[0.300, 0.500] of [dynamic, dynamic_int8]", slider.excluded.get("dynamic_fp16"));
    assertEquals(2, slider.label(0).split("\n").length);
    assertFalse(slider.label(0).contains("dynamic_fp16"));
  }

  @Test
  public void badArgumentsAreRefused() {
    assertThrows(IllegalArgumentException.class,
        () -> BudgetSlider.of(Collections.<String, BudgetKnob>emptyMap()));
    assertThrows(IllegalArgumentException.class, () -> BudgetSlider.of(
        Collections.singletonMap("dynamic", BudgetKnobTest.knob()), 0.0));
  }
}
