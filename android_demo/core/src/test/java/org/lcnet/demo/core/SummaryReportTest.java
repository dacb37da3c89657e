package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.Test;

public class SummaryReportTest {
  static Map<String, ModelRecord> records() {
    Map<String, ModelRecord> records = new LinkedHashMap<>();
    ModelRecord stat = new ModelRecord("static", 4, 2);
    ModelRecord dynamic = new ModelRecord("dynamic", 4, 2);
    for (int i = 0; i < 4; i++) {
      stat.latencyMs[i] = 1.0;
      stat.flops[i] = 100;
      stat.correct[i] = i < 3;
      stat.gate[i] = new float[] {1, 1};
      dynamic.latencyMs[i] = i < 2 ? 0.4 : 0.8;  // Mean 0.6: speed-up 1/0.6.
      dynamic.flops[i] = i < 2 ? 25 : 75;        // Mean 50: FLOPs speed-up 2.
      dynamic.correct[i] = i < 2;
      dynamic.gate[i] = new float[] {1, i < 2 ? 0 : 1};
    }
    records.put("static", stat);
    records.put("dynamic", dynamic);
    return records;
  }

  @Test
  public void speedupFlopsAndEfficiencyFollowPythonsDefinitions() {
    Summary summary = Summary.compute(records(), "static");
    Summary.Row dynamic = summary.rows.get("dynamic");
    assertEquals(0.5, dynamic.accuracy, 0.0);
    assertEquals(50.0, dynamic.meanFlops, 0.0);
    assertEquals(0.5, dynamic.flopsFraction, 0.0);
    assertEquals(1.0 / 0.6, dynamic.speedup, 1e-15);
    assertEquals(2.0, dynamic.flopsSpeedup, 0.0);
    assertEquals(1.0 / 0.6 / 2.0, dynamic.efficiency, 1e-15);
    assertEquals(0.75, dynamic.blockRunRate, 0.0);
    assertEquals(0.6, dynamic.latencyP50, 1e-15);
    assertEquals(0.8, dynamic.latencyP90, 1e-15);
    assertEquals(1.0, summary.rows.get("static").efficiency, 0.0);
    Summary.SamePrecision same = summary.samePrecision.get("dynamic");
    assertEquals("static", same.staticName);
    assertEquals(1.0 / 0.6, same.speedup, 1e-15);
    assertThrows(IllegalArgumentException.class, () -> Summary.compute(records(), "reference"));
  }

  @Test
  public void tableCsvJsonAndTheLogcatLine() {
    Summary summary = Summary.compute(records(), "static");
    String[] table = Report.table(summary).split("\n");
    assertEquals("model                   acc   MFLOPs  FLOPs%  mean ms  p50 ms  p90 ms  speed-up   eff.",
        table[0]);
    assertEquals(table[0].length(), table[1].length());
    assertEquals("static               0.7500     0.00  100.0%    1.000   1.000   1.000     1.00x   1.00",
        table[2]);
    assertTrue(table[table.length - 1], table[table.length - 1].startsWith(
        "dynamic vs static: speed-up 1.67x, efficiency 0.83"));

    ImageSet images = GoldenCheck.imageSetUnchecked(new int[] {0, 1, 2, 3}, new int[] {1, 1, 3});
    String[] csv = Report.csv(records(), images).split("\n");
    assertEquals("model,image,label,prediction,correct,latency_ms,realized_flops,blocks_run", csv[0]);
    assertEquals(9, csv.length);
    assertEquals("dynamic,3,3,0,0,0.8,75.0,2", csv[8]);

    Map<String, Object> metadata = new LinkedHashMap<>();
    metadata.put("device", "test");
    JsonObject report =
        JsonParser.parseString(Report.json(summary, records(), metadata)).getAsJsonObject();
    JsonObject dynamic = report.getAsJsonObject("models").getAsJsonObject("dynamic");
    assertEquals(2.0, dynamic.get("flops_speedup").getAsDouble(), 0.0);
    assertEquals("static", report.getAsJsonObject("metadata").get("reference").getAsString());
    assertEquals(4, report.getAsJsonObject("per_image").getAsJsonObject("dynamic")
        .getAsJsonArray("latency_ms").size());

    assertEquals("dynamic 0.600 ms vs static 1.000 ms: 1.67x at 50.0% FLOPs, efficiency 0.83, "
        + "accuracy 0.5000 vs 0.7500", Report.summaryLine(summary));
  }
}
