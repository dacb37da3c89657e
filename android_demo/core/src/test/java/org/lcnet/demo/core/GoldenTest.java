package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.List;
import org.junit.Test;

/**
 * The committed golden file (tests/android_demo/android_golden.py: Python's compare_models on scripted
 * runners) is reproduced by this core: call order, per-image numbers, summary and table.
 */
public class GoldenTest {
  static final String RESOURCE = "/golden/benchmark_golden.json";

  static String goldenText() throws Exception {
    try (InputStream stream = GoldenTest.class.getResourceAsStream(RESOURCE)) {
      java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
      byte[] buffer = new byte[1 << 14];
      int read;
      while ((read = stream.read(buffer)) > 0) {
        out.write(buffer, 0, read);
      }
      return new String(out.toByteArray(), StandardCharsets.UTF_8);
    }
  }

  @Test
  public void javaReproducesPythonsBenchmarkOnTheGoldenScripts() throws Exception {
    String path = Paths.get(GoldenTest.class.getResource(RESOURCE).toURI()).toString();
    List<String> problems = GoldenCheck.checkFile(path);
    assertTrue(String.join("\n", problems), problems.isEmpty());
    JsonObject golden = JsonParser.parseString(goldenText()).getAsJsonObject();
    assertEquals(3, golden.getAsJsonArray("cases").size());
  }

  @Test
  public void theCheckNoticesAChangedStatistic() throws Exception {
    JsonObject golden = JsonParser.parseString(goldenText()).getAsJsonObject();
    JsonObject first = golden.getAsJsonArray("cases").get(0).getAsJsonObject();
    JsonObject latency = first.getAsJsonObject("expected").getAsJsonObject("summary")
        .getAsJsonObject("dynamic").getAsJsonObject("latency_ms");
    double p90 = latency.get("p90").getAsDouble();
    latency.addProperty("p90", p90 * (1 + 1e-8));  // What a "nearest" or "lower" percentile moves.
    List<String> problems = GoldenCheck.checkCase(first);
    assertFalse(problems.isEmpty());
    assertTrue(problems.get(0), problems.get(0).contains("dynamic/latency_ms/p90"));
  }
}
