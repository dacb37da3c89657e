package org.lcnet.demo.core;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The benchmark's outputs: the table Python prints, a per-image CSV, the JSON report, one line. */
public final class Report {
  /** Keeps null values; NaN and infinities reach {@link #toJson}'s writer, which nulls them. */
  private static final Gson GSON = new GsonBuilder().serializeNulls()
      .serializeSpecialFloatingPointValues().disableHtmlEscaping().create();

  private Report() {}

  /** {@code lcnet_tf.export.benchmark.format_table}: the same text, character for character. */
  public static String table(Summary summary) {
    String header = Fmt.padRight("model", 20) + Fmt.padLeft("acc", 7) + Fmt.padLeft("MFLOPs", 9)
        + Fmt.padLeft("FLOPs%", 8) + Fmt.padLeft("mean ms", 9) + Fmt.padLeft("p50 ms", 8)
        + Fmt.padLeft("p90 ms", 8) + Fmt.padLeft("speed-up", 10) + Fmt.padLeft("eff.", 7);
    List<String> lines = new ArrayList<>();
    lines.add(header);
    lines.add(Fmt.repeat('-', header.length()));
    for (Summary.Row row : summary.rows.values()) {
      lines.add(Fmt.padRight(row.name, 20) + Fmt.fixed(row.accuracy, 4, 7)
          + Fmt.fixed(row.meanFlops / 1e6, 2, 9) + Fmt.fixed(100 * row.flopsFraction, 1, 7) + "%"
          + Fmt.fixed(row.latencyMean, 3, 9) + Fmt.fixed(row.latencyP50, 3, 8)
          + Fmt.fixed(row.latencyP90, 3, 8) + Fmt.fixed(row.speedup, 2, 9) + "x"
          + Fmt.fixed(row.efficiency, 2, 7));
    }
    for (Summary.Row row : summary.rows.values()) {
      LatencyDecomposition fit = row.latencyModel;
      if (fit == null) {
        continue;
      }
      StringBuilder runs = new StringBuilder();
      for (int b = 0; b < fit.runMs.size(); b++) {
        if (b > 0) {
          runs.append(' ');
        }
        Double value = fit.runMs.get(b);
        runs.append(value == null ? "-" : Fmt.fixed(value, 3));
      }
      lines.add(row.name + " latency ~ " + Fmt.fixed(fit.fixedMs, 3) + " ms fixed + per run block ["
          + runs + "] ms (least squares, R^2 " + Fmt.fixed(fit.r2, 2) + ")");
    }
    for (Summary.SamePrecision same : summary.samePrecision.values()) {
      lines.add(same.name + " vs " + same.staticName + ": speed-up " + Fmt.fixed(same.speedup, 2)
          + "x, efficiency " + Fmt.fixed(same.efficiency, 2));
    }
    return String.join("\n", lines);
  }

  /**
   * One row per model and image: {@code model,image,label,prediction,correct,latency_ms,
   * realized_flops,blocks_run}.
   */
  public static String csv(Map<String, ModelRecord> records, ImageSet images) {
    StringBuilder out = new StringBuilder(
        "model,image,label,prediction,correct,latency_ms,realized_flops,blocks_run\n");
    for (ModelRecord record : records.values()) {
      for (int i = 0; i < record.numImages(); i++) {
        out.append(record.name).append(',').append(i).append(',').append(images.label(i))
            .append(',').append(record.prediction[i]).append(',')
            .append(record.correct[i] ? 1 : 0).append(',')
            .append(Double.toString(record.latencyMs[i])).append(',')
            .append(Double.toString(record.flops[i])).append(',')
            .append(record.blocksRun(i)).append('\n');
      }
    }
    return out.toString();
  }

  /** The summary as the {@code "models"} object of Python's report.json. */
  public static Map<String, Object> summaryJson(Summary summary) {
    Map<String, Object> models = new LinkedHashMap<>();
    for (Summary.Row row : summary.rows.values()) {
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("accuracy", row.accuracy);
      entry.put("mean_flops", row.meanFlops);
      entry.put("flops_fraction", row.flopsFraction);
      Map<String, Object> latency = new LinkedHashMap<>();
      latency.put("mean", row.latencyMean);
      latency.put("p50", row.latencyP50);
      latency.put("p90", row.latencyP90);
      entry.put("latency_ms", latency);
      entry.put("speedup", row.speedup);
      entry.put("flops_speedup", row.flopsSpeedup);
      entry.put("efficiency", row.efficiency);
      entry.put("block_run_rate", row.blockRunRate);
      entry.put("latency_model", fitJson(row.latencyModel));
      models.put(row.name, entry);
    }
    return models;
  }

  /** Python's {@code same_precision_rows(summary)}. */
  public static Map<String, Object> samePrecisionJson(Summary summary) {
    Map<String, Object> rows = new LinkedHashMap<>();
    for (Summary.SamePrecision same : summary.samePrecision.values()) {
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("speedup", same.speedup);
      entry.put("efficiency", same.efficiency);
      rows.put(same.name, entry);
    }
    return rows;
  }

  private static Object fitJson(LatencyDecomposition fit) {
    if (fit == null) {
      return null;
    }
    Map<String, Object> entry = new LinkedHashMap<>();
    entry.put("fixed_ms", fit.fixedMs);
    entry.put("run_ms", new ArrayList<Object>(fit.runMs));
    entry.put("r2", fit.r2);
    entry.put("always_run_blocks", new ArrayList<Object>(fit.alwaysRunBlocks));
    return entry;
  }

  /**
   * The JSON report: {@code metadata}, {@code models} (as Python's report.json), {@code
   * same_precision}, the text {@code table}, and {@code per_image} latencies, FLOPs and
   * correctness.
   */
  public static String json(Summary summary, Map<String, ModelRecord> records,
      Map<String, Object> metadata) {
    Map<String, Object> report = new LinkedHashMap<>();
    Map<String, Object> meta = new LinkedHashMap<>(metadata);
    meta.put("reference", summary.reference);
    meta.put("efficiency", "(reference latency / latency) / (reference FLOPs / FLOPs)");
    meta.put("flops_convention", "1 multiply-accumulate = 1 FLOP; gate networks included");
    report.put("metadata", meta);
    report.put("models", summaryJson(summary));
    report.put("same_precision", samePrecisionJson(summary));
    report.put("table", table(summary));
    Map<String, Object> perImage = new LinkedHashMap<>();
    for (ModelRecord record : records.values()) {
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("latency_ms", record.latencyMs);
      entry.put("flops", record.flops);
      entry.put("correct", record.correct);
      entry.put("prediction", record.prediction);
      perImage.put(record.name, entry);
    }
    report.put("per_image", perImage);
    return toJson(report);
  }

  /**
   * {@code value} (maps, lists, primitive arrays, strings, numbers, booleans, null, Gson trees) as
   * JSON indented by one space. Null values are kept; NaN and infinities are written as null
   * (strict JSON).
   */
  public static String toJson(Object value) {
    StringWriter text = new StringWriter();
    JsonWriter writer = new JsonWriter(text) {
      @Override
      public JsonWriter value(double number) throws IOException {
        return Double.isFinite(number) ? super.value(number) : nullValue();
      }

      @Override
      public JsonWriter value(Number number) throws IOException {
        return number == null || Double.isFinite(number.doubleValue()) ? super.value(number)
            : nullValue();
      }
    };
    writer.setIndent(" ");
    GSON.toJson(value, Object.class, writer);
    return text.toString();
  }

  /**
   * One line for logcat: each dynamic row against the static row of its precision, e.g.
   * {@code dynamic 0.412 ms vs static 0.903 ms: 2.19x at 45.1% FLOPs, efficiency 0.99}.
   */
  public static String summaryLine(Summary summary) {
    List<String> parts = new ArrayList<>();
    for (Summary.SamePrecision same : summary.samePrecision.values()) {
      Summary.Row dynamic = summary.rows.get(same.name);
      Summary.Row stat = summary.rows.get(same.staticName);
      parts.add(same.name + " " + Fmt.fixed(dynamic.latencyMean, 3) + " ms vs " + same.staticName
          + " " + Fmt.fixed(stat.latencyMean, 3) + " ms: " + Fmt.fixed(same.speedup, 2) + "x at "
          + Fmt.fixed(100 * dynamic.meanFlops / stat.meanFlops, 1) + "% FLOPs, efficiency "
          + Fmt.fixed(same.efficiency, 2) + ", accuracy " + Fmt.fixed(dynamic.accuracy, 4)
          + " vs " + Fmt.fixed(stat.accuracy, 4));
    }
    if (parts.isEmpty()) {
      for (Summary.Row row : summary.rows.values()) {
        parts.add(String.format(Locale.ROOT, "%s %s ms", row.name, Fmt.fixed(row.latencyMean, 3)));
      }
    }
    return String.join(" | ", parts);
  }
}
