package org.lcnet.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.function.Consumer;
import org.junit.Test;

/** The knob's table read from .tflite bytes, its checks, and the lookup rule of the doc. */
public class BudgetKnobTest {
  static final String FILE = "knob.tflite";

  /** A cascade-shaped table (2 decisions), rows 0.3, 0.4, 0.6, as the doc's example. */
  static String tableText() {
    return "{\"format\": \"lcnet_budget_table\", \"version\": 1, \"signature\": \"serve_budget\", "
        + "\"input\": \"decisions\", \"decision_names\": [\"threshold_0\", \"stage1.offset\"], "
        + "\"reference_flops\": 40555136, \"num_images\": 5000, "
        + "\"default\": {\"budget\": 0.395, \"decisions\": [0.41, 0.1], "
        + "\"mean_flops\": 16019000.0}, \"rows\": ["
        + "{\"budget\": 0.3, \"decisions\": [0.12, -0.5], \"mean_flops\": 12166000.0}, "
        + "{\"budget\": 0.4, \"decisions\": [0.42, 0.0], \"mean_flops\": 16222000.0}, "
        + "{\"budget\": 0.6, \"decisions\": [0.9, 0.25], \"mean_flops\": 24333000.0}]}";
  }

  static BudgetKnob knob() {
    try {
      return BudgetKnob.read(FILE, TfliteBytes.withTable(tableText()));
    } catch (ContractException e) {
      throw new AssertionError(e);
    }
  }

  @Test
  public void readsTheTableFromTheFilesMetadata() throws ContractException {
    ByteBuffer mapped = ByteBuffer.wrap(TfliteBytes.withTable(tableText()));
    mapped.position(11);
    mapped.order(ByteOrder.BIG_ENDIAN);
    BudgetKnob knob = BudgetKnob.find(FILE, mapped);
    assertNotNull(knob);
    assertEquals(11, mapped.position());  // LiteRT's buffer is left as it was.
    assertEquals(ByteOrder.BIG_ENDIAN, mapped.order());
    assertEquals(FILE, knob.file);
    assertEquals(Arrays.asList("threshold_0", "stage1.offset"), knob.decisionNames);
    assertEquals(2, knob.numDecisions());
    assertEquals(40555136L, knob.referenceFlops);
    assertEquals(5000, knob.numImages);
    assertEquals(3, knob.rows.size());
    assertEquals(0.3, knob.minBudget(), 0.0);
    assertEquals(0.6, knob.maxBudget(), 0.0);
    assertEquals(0.395, knob.defaultRow.budget, 0.0);
    assertArrayEquals(new double[] {0.41, 0.1}, knob.defaultRow.decisions(), 0.0);
    assertEquals(16019000.0, knob.defaultRow.meanFlops, 0.0);
    assertArrayEquals(new double[] {0.42, 0.0}, knob.rows.get(1).decisions(), 0.0);
  }

  @Test
  public void aBudgetAtARowGetsThatRowExactly() {
    BudgetKnob knob = knob();
    for (int i = 0; i < knob.rows.size(); i++) {
      BudgetKnob.Row row = knob.rows.get(i);
      for (double budget : new double[] {row.budget, row.budget + 0.9e-9, row.budget - 0.9e-9}) {
        BudgetKnob.Setting setting = knob.lookup(budget);
        assertTrue(setting.exact);
        assertEquals(i, setting.lowerRow);
        assertEquals(budget, setting.budget, 0.0);  // The budget asked for, as Python keeps it.
        assertArrayEquals(row.decisions(), setting.decisionValues(), 0.0);
        assertEquals(row.meanFlops, setting.expectedFlops, 0.0);
      }
    }
    assertFalse(knob.lookup(0.4 + 2e-9).exact);
  }

  @Test
  public void betweenRowsDecisionsAndFlopsAreInterpolatedLinearly() {
    BudgetKnob knob = knob();
    BudgetKnob.Setting setting = knob.lookup(0.35);
    assertFalse(setting.exact);
    assertEquals(0, setting.lowerRow);
    double weight = (0.35 - 0.3) / (0.4 - 0.3);  // Python's operations, in Python's order.
    assertArrayEquals(new double[] {0.12 + weight * (0.42 - 0.12), -0.5 + weight * (0.0 + 0.5)},
        setting.decisionValues(), 0.0);
    assertEquals(12166000.0 + weight * (16222000.0 - 12166000.0), setting.expectedFlops, 0.0);
    assertArrayEquals(new double[] {0.27, -0.25}, setting.decisionValues(), 1e-15);
    assertEquals(14194000.0, setting.expectedFlops, 1e-6);
    BudgetKnob.Setting upper = knob.lookup(0.5);
    assertEquals(1, upper.lowerRow);
    assertArrayEquals(new double[] {0.66, 0.125}, upper.decisionValues(), 1e-15);
    // Every decision grows with the budget: the lookup is monotone.
    double[] previous = knob.lookup(0.3).decisionValues();
    for (int k = 1; k <= 300; k++) {
      double[] values = knob.lookup(0.3 + k * 0.001).decisionValues();
      for (int d = 0; d < values.length; d++) {
        assertTrue(values[d] >= previous[d]);
      }
      previous = values;
    }
  }

  @Test
  public void theDecisionsInputGetsFloat32() {
    BudgetKnob.Setting setting = knob().lookup(0.35);
    float[] decisions = setting.decisions();
    assertEquals(2, decisions.length);
    assertEquals((float) setting.decisionValues()[0], decisions[0], 0f);
    assertEquals((float) setting.decisionValues()[1], decisions[1], 0f);
  }

  @Test
  public void budgetsOutsideTheRangeOrNotFiniteAreErrorsNamingValueAndRange() {
    BudgetKnob knob = knob();
    assertTrue(knob.lookup(0.3).exact);
    assertTrue(knob.lookup(0.6).exact);
    double[] bad = {0.2999, 0.6001, 0.0, -0.4, 1.0, Double.NaN, Double.POSITIVE_INFINITY,
        Double.NEGATIVE_INFINITY, 0.3 - 2e-9, 0.6 + 2e-9};
    for (double budget : bad) {
      assertFalse(knob.covers(budget));
      IllegalArgumentException error =
          assertThrows(IllegalArgumentException.class, () -> knob.lookup(budget));
      String message = error.getMessage();
      assertTrue(message, message.startsWith("Invalid value for budget: expected a number in "
          + "[0.3000, 0.6000] (the budgets knob.tflite's table was calibrated for, as fractions "
          + "of 40,555,136 reference FLOPs). Received: "));
      assertTrue(message, message.endsWith("Received: " + budget));
    }
    assertTrue(assertThrows(IllegalArgumentException.class, () -> knob.lookup(Double.NaN))
        .getMessage().endsWith("Received: NaN"));
  }

  @Test
  public void aFileWithoutTheTableIsNotAKnobFile() throws ContractException {
    byte[] plain = new TfliteBytes().metadata("min_runtime_version", "2.3.0", false).build();
    assertNull(BudgetKnob.find("static.tflite", plain));
    byte[] noMetadata = new TfliteBytes().build();
    assertNull(BudgetKnob.find("static.tflite", noMetadata));
    ContractException error = assertThrows(ContractException.class,
        () -> BudgetKnob.read("static.tflite", plain));
    assertEquals("static.tflite is not a knob file: it has no \"lcnet_budget_table\" metadata "
        + "entry (export it with lcnet_tf.export.to_tflite(model, path, budget_table=table)); run "
        + "its \"serve\" signature.", error.getMessage());
  }

  @Test
  public void aBufferStoredAfterTheFlatbufferIsReadByOffsetAndSize() throws ContractException {
    // Files over 2 GB keep buffers outside the flatbuffer: Buffer.offset and Buffer.size.
    byte[] large = new TfliteBytes().metadata("min_runtime_version", "2.3.0", true)
        .metadata(BudgetKnob.METADATA_NAME, tableText(), true).build();
    BudgetKnob knob = BudgetKnob.read(FILE, large);
    assertEquals(3, knob.rows.size());
    assertArrayEquals(knob().lookup(0.45).decisionValues(), knob.lookup(0.45).decisionValues(),
        0.0);
  }

  private static String tableError(Consumer<JsonObject> change) {
    JsonObject table = JsonParser.parseString(tableText()).getAsJsonObject();
    change.accept(table);
    return tableError(table.toString());
  }

  private static String tableError(String text) {
    ContractException error = assertThrows(ContractException.class,
        () -> BudgetKnob.find(FILE, TfliteBytes.withTable(text)));
    String prefix = "knob.tflite: the \"lcnet_budget_table\" table: ";
    assertTrue(error.getMessage(), error.getMessage().startsWith(prefix));
    return error.getMessage().substring(prefix.length());
  }

  private static JsonArray rows(JsonObject table) {
    return table.getAsJsonArray("rows");
  }

  private static void assertContains(String expected, String message) {
    assertTrue("\"" + message + "\" lacks \"" + expected + "\"", message.contains(expected));
  }

  @Test
  public void malformedTablesAreContractExceptionsNamingTheField() {
    assertContains("invalid JSON", tableError("{\"format\": \"lcnet_budget_table\", "));
    assertContains("the table: expected a JSON object, got [1,2]", tableError("[1, 2]"));
    assertContains("format: expected \"lcnet_budget_table\", got \"tflite_support\"",
        tableError(t -> t.addProperty("format", "tflite_support")));
    assertContains("version 2 is not supported (this app reads version 1)",
        tableError(t -> t.addProperty("version", 2)));
    assertContains("signature: expected \"serve_budget\"",
        tableError(t -> t.addProperty("signature", "serve")));
    assertContains("input: expected \"decisions\"",
        tableError(t -> t.addProperty("input", "offsets")));
    assertContains("missing key \"rows\"", tableError(t -> t.remove("rows")));
    assertContains("rows: expected at least 2 rows (a knob needs a range), got 1",
        tableError(t -> {
          rows(t).remove(2);
          rows(t).remove(1);
        }));
    assertContains("rows: expected strictly increasing budgets, got rows[0].budget = 0.3 and "
        + "rows[1].budget = 0.3", tableError(t -> rows(t).get(1).getAsJsonObject()
            .addProperty("budget", 0.3)));
    assertContains("strictly increasing budgets", tableError(t -> rows(t).get(2)
        .getAsJsonObject().addProperty("budget", 0.35)));
    assertContains("rows[1].decisions: expected 2 value(s), one per decision_names, got [0.42]",
        tableError(t -> rows(t).get(1).getAsJsonObject().getAsJsonArray("decisions").remove(1)));
    assertContains("default.decisions: expected 2 value(s)", tableError(t -> t
        .getAsJsonObject("default").add("decisions", new JsonArray())));
    // Gson's lenient parser keeps Python's NaN as the string "NaN".
    assertContains("rows[0].mean_flops: expected a finite number, got \"NaN\"",
        tableError(tableText().replace("12166000.0", "NaN")));
    assertContains("rows[2].decisions[1]: expected a finite number, got \"0.25\"",
        tableError(t -> rows(t).get(2).getAsJsonObject().getAsJsonArray("decisions")
            .set(1, new JsonPrimitive("0.25"))));
    assertContains("decision_names: expected one or more names",
        tableError(t -> t.add("decision_names", new JsonArray())));
    assertContains("decision_names[1]: expected a non-empty string", tableError(t -> t
        .getAsJsonArray("decision_names").set(1, new JsonPrimitive(""))));
    assertContains("reference_flops: expected a positive integer",
        tableError(t -> t.addProperty("reference_flops", 0)));
    assertContains("reference_flops: expected an integer",
        tableError(t -> t.addProperty("reference_flops", 1.5)));
    assertContains("num_images: expected a positive integer",
        tableError(t -> t.addProperty("num_images", -3)));
  }

  @Test
  public void aTableThatIsNotUtf8OrEmptyIsRefused() {
    byte[] latin1 = tableText().replace("stage1.offset", "\u00e9tage1.offset")
        .getBytes(StandardCharsets.ISO_8859_1);
    TfliteBytes model = new TfliteBytes();
    model.metadata(BudgetKnob.METADATA_NAME, model.buffer(latin1, false));
    assertContains("not UTF-8 text", assertThrows(ContractException.class,
        () -> BudgetKnob.find(FILE, model.build())).getMessage());
    TfliteBytes empty = new TfliteBytes();
    empty.metadata(BudgetKnob.METADATA_NAME, empty.buffer(new byte[0], false));
    assertEquals("knob.tflite: the \"lcnet_budget_table\" metadata entry's buffer 1 is empty.",
        assertThrows(ContractException.class, () -> BudgetKnob.find(FILE, empty.build()))
            .getMessage());
    byte[] twice = new TfliteBytes().metadata(BudgetKnob.METADATA_NAME, tableText(), false)
        .metadata(BudgetKnob.METADATA_NAME, tableText(), false).build();
    assertContains("two \"lcnet_budget_table\" metadata entries", assertThrows(
        ContractException.class, () -> BudgetKnob.find(FILE, twice)).getMessage());
  }

  @Test
  public void corruptFlatbuffersAreContractExceptions() {
    for (byte[] bytes : new byte[][] {new byte[0], "hello".getBytes(StandardCharsets.US_ASCII),
        new TfliteBytes().identifier("TFL2").build()}) {
      assertContains("knob.tflite: not a .tflite file", assertThrows(ContractException.class,
          () -> BudgetKnob.find(FILE, bytes)).getMessage());
    }
    byte[] dangling = new TfliteBytes().metadata(BudgetKnob.METADATA_NAME, 99).build();
    assertEquals("knob.tflite: not a valid .tflite flatbuffer: Model.metadata[0] "
        + "(\"lcnet_budget_table\") names buffer 99, the file has 1 buffers.", assertThrows(
            ContractException.class, () -> BudgetKnob.find(FILE, dangling)).getMessage());
    byte[] good = TfliteBytes.withTable(tableText());
    // Every truncation cuts something the reader needs (the metadata come last), except the
    // final byte: the NUL after the last name, which flatbuffers add and the reader never needs.
    for (int length = 8; length < good.length - 1; length++) {
      byte[] truncated = Arrays.copyOf(good, length);
      ContractException error = assertThrows(ContractException.class,
          () -> BudgetKnob.find(FILE, truncated));
      assertTrue(error.getMessage(), error.getMessage().startsWith("knob.tflite: "));
    }
  }

  @Test
  public void everyFlippedByteGivesATableAnotherTableOrAContractExceptionNeverACrash() {
    byte[] good = TfliteBytes.withTable(tableText());
    int errors = 0;
    for (int position = 0; position < good.length; position++) {
      for (int mask : new int[] {0x01, 0x80, 0xff}) {
        byte[] bytes = good.clone();
        bytes[position] ^= (byte) mask;
        try {
          BudgetKnob.find(FILE, bytes);
        } catch (ContractException e) {
          errors++;
        } catch (RuntimeException e) {
          fail("byte " + position + " ^ " + mask + ": " + e);
        }
      }
    }
    assertTrue(errors > good.length);  // Most flips break the file or its table.
  }

  @Test
  public void describeSaysWhatTheSliderShows() {
    BudgetKnob knob = knob();
    assertEquals("budget 0.350 (14.19 of 40.56 reference MFLOPs expected): threshold_0 0.2700, "
        + "stage1.offset -0.2500; between the calibrated budgets 0.300 and 0.400",
        knob.describe(knob.lookup(0.35)));
    assertEquals("budget 0.400 (16.22 of 40.56 reference MFLOPs expected): threshold_0 0.4200, "
        + "stage1.offset 0.0000; calibrated row 2 of 3", knob.describe(knob.lookup(0.4)));
    assertEquals("budget knob 0.300 to 0.600, 3 calibrated rows (threshold_0, stage1.offset)",
        knob.summary());
    JsonObject json = JsonParser.parseString(Report.toJson(knob.toJson(knob.lookup(0.4))))
        .getAsJsonObject();
    assertEquals("serve_budget", json.get("signature").getAsString());
    assertEquals(0.42, json.getAsJsonObject("decisions").get("threshold_0").getAsDouble(), 0.0);
    assertTrue(json.get("exact").getAsBoolean());
    assertEquals(16222000.0, json.get("expected_flops").getAsDouble(), 0.0);
  }
}
