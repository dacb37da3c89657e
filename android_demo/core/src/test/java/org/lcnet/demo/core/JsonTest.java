package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;

/** JSON in (manifest.json, read with Gson) and out (report.json, {@link Report#toJson}). */
public class JsonTest {
  static String manifestError(String text) {
    return assertThrows(IllegalArgumentException.class, () -> Manifest.parse(text)).getMessage();
  }

  static JsonObject sample() {
    return JsonParser.parseString(ManifestTest.sampleText()).getAsJsonObject();
  }

  @Test
  public void manifestReadsWhatPythonWrites() {
    // Python's json writes NaN and -Infinity, and escapes non-ASCII.
    Manifest manifest = Manifest.parse(ManifestTest.sampleText().replace(
        "\"python_benchmark\": {\"table\": \"model  acc\"}",
        "\"python_benchmark\": {\"table\": \"model  acc\", \"machine\": {\"cpu\": \"caf\\u00e9\"},"
            + " \"r2\": NaN, \"low\": -Infinity}"));
    assertEquals("model  acc", manifest.pythonTable);
    assertEquals(Arrays.asList("table", "machine", "r2", "low"),
        new ArrayList<>(manifest.pythonBenchmark.keySet()));
    assertEquals("caf\u00e9",
        manifest.pythonBenchmark.getAsJsonObject("machine").get("cpu").getAsString());
    assertTrue(Double.isNaN(manifest.pythonBenchmark.get("r2").getAsDouble()));
    assertEquals(Double.NEGATIVE_INFINITY, manifest.pythonBenchmark.get("low").getAsDouble(), 0.0);
  }

  @Test
  public void reportJsonIsStrictAndReadsBackExactly() throws Exception {
    Map<String, Object> value = new LinkedHashMap<>();
    value.put("third", 1.0 / 3);
    value.put("tiny", 4.9e-324);
    value.put("nan", Double.NaN);
    value.put("inf", Float.POSITIVE_INFINITY);
    value.put("doubles", new double[] {0.5, Double.NaN});
    value.put("ints", new int[] {1, -2});
    value.put("flags", new boolean[] {true, false});
    value.put("nothing", null);
    value.put("text", "tab\tquote\" a=b <c>");
    value.put("tree", JsonParser.parseString("{\"k\": [1, 2.5]}"));
    String text = Report.toJson(value);
    assertTrue(text, text.contains("a=b <c>"));  // No HTML escaping.
    assertFalse(text, text.contains("NaN") || text.contains("Infinity"));
    // Gson's TypeAdapter.fromJson reads strictly (JsonParser would be lenient).
    JsonObject back = new Gson().getAdapter(JsonElement.class).fromJson(text).getAsJsonObject();
    assertEquals(new ArrayList<>(value.keySet()), new ArrayList<>(back.keySet()));
    assertEquals(1.0 / 3, back.get("third").getAsDouble(), 0.0);
    assertEquals(4.9e-324, back.get("tiny").getAsDouble(), 0.0);
    assertTrue(back.get("nan").isJsonNull());  // Non-finite numbers become null.
    assertTrue(back.get("inf").isJsonNull());
    assertTrue(back.getAsJsonArray("doubles").get(1).isJsonNull());
    assertEquals(-2, back.getAsJsonArray("ints").get(1).getAsInt());
    assertFalse(back.getAsJsonArray("flags").get(1).getAsBoolean());
    assertTrue(back.get("nothing").isJsonNull());  // Null values are kept.
    assertEquals("tab\tquote\" a=b <c>", back.get("text").getAsString());
    assertEquals(2.5, back.getAsJsonObject("tree").getAsJsonArray("k").get(1).getAsDouble(), 0.0);
  }

  @Test
  public void manifestErrorsNameWhatIsWrong() {
    for (String bad : new String[] {"{", "{\"kind\" 1}", "\"\\q\"", "{} {}"}) {
      String message = manifestError(bad);
      assertTrue(message, message.startsWith("manifest.json: invalid JSON: "));
    }
    assertEquals("manifest.json: expected a JSON object, got []", manifestError("[]"));
    assertEquals("manifest.json: expected a JSON object, got null", manifestError(""));

    JsonObject noFile = sample();
    noFile.getAsJsonArray("models").get(0).getAsJsonObject().remove("file");
    assertEquals("models[dynamic]: missing key \"file\"", manifestError(noFile.toString()));
    JsonObject fractional = sample();
    fractional.getAsJsonArray("models").get(0).getAsJsonObject().addProperty("num_if_ops", 1.5);
    assertEquals("models[dynamic].num_if_ops: expected an integer, got 1.5",
        manifestError(fractional.toString()));
    JsonObject names = sample();
    names.addProperty("class_names", "airplane");
    assertEquals("class_names: expected a JSON array, got \"airplane\"",
        manifestError(names.toString()));
    JsonObject shape = sample();
    shape.getAsJsonArray("models").get(1).getAsJsonObject().getAsJsonObject("inputs")
        .getAsJsonObject("image").getAsJsonArray("shape").set(0, JsonParser.parseString("\"1\""));
    assertEquals("models[static].inputs.shape[0]: expected an integer, got \"1\"",
        manifestError(shape.toString()));
  }
}
