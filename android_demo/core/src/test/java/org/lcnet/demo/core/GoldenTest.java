package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
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
    Map<String, Object> golden = Json.asObject(Json.parse(goldenText()), "golden");
    assertEquals(3, Json.asArray(golden.get("cases"), "cases").size());
  }

  @Test
  public void theCheckNoticesAChangedStatistic() throws Exception {
    Map<String, Object> golden = Json.asObject(Json.parse(goldenText()), "golden");
    Map<String, Object> first = Json.asObject(Json.asArray(golden.get("cases"), "c").get(0), "0");
    Map<String, Object> latency = Json.asObject(Json.asObject(Json.asObject(Json.asObject(
        first.get("expected"), "e").get("summary"), "s").get("dynamic"), "d").get("latency_ms"),
        "l");
    double p90 = Json.asDouble(latency.get("p90"), "p90");
    latency.put("p90", p90 * (1 + 1e-8));  // What a "nearest" or "lower" percentile would move.
    List<String> problems = GoldenCheck.checkCase(first);
    assertFalse(problems.isEmpty());
    assertTrue(problems.get(0), problems.get(0).contains("dynamic/latency_ms/p90"));
  }
}
