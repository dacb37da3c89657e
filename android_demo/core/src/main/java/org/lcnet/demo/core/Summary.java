package org.lcnet.demo.core;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The side-by-side summary of {@code lcnet_tf.export.benchmark.compare_models} and {@code
 * same_precision_rows}, computed from per-image records with the same formulas.
 *
 * <ul>
 *   <li>accuracy: fraction of images whose argmax(logits) is the label;
 *   <li>mean FLOPs: mean of the model's own {@code realized_flops} outputs; FLOPs % of the
 *       reference's mean;
 *   <li>latency: mean, p50 and p90 over the images (NumPy's linear percentile);
 *   <li>speed-up = reference mean latency / mean latency; FLOPs speed-up = reference mean FLOPs /
 *       mean FLOPs; efficiency = speed-up / FLOPs speed-up (1.0: time falls as fast as FLOPs);
 *   <li>block run rate: mean of the {@code gate} outputs;
 *   <li>latency model: {@link LatencyDecomposition}.
 * </ul>
 */
public final class Summary {
  /** One row of the table. */
  public static final class Row {
    public final String name;
    public final double accuracy;
    public final double meanFlops;
    public final double flopsFraction;
    public final double latencyMean;
    public final double latencyP50;
    public final double latencyP90;
    public final double speedup;
    public final double flopsSpeedup;
    public final double efficiency;
    public final double blockRunRate;
    /** Null when not identifiable. */
    public final LatencyDecomposition latencyModel;

    Row(String name, double accuracy, double meanFlops, double flopsFraction, double latencyMean,
        double latencyP50, double latencyP90, double speedup, double flopsSpeedup,
        double efficiency, double blockRunRate, LatencyDecomposition latencyModel) {
      this.name = name;
      this.accuracy = accuracy;
      this.meanFlops = meanFlops;
      this.flopsFraction = flopsFraction;
      this.latencyMean = latencyMean;
      this.latencyP50 = latencyP50;
      this.latencyP90 = latencyP90;
      this.speedup = speedup;
      this.flopsSpeedup = flopsSpeedup;
      this.efficiency = efficiency;
      this.blockRunRate = blockRunRate;
      this.latencyModel = latencyModel;
    }
  }

  /** A dynamic row against the static row of the same precision (int8 vs int8). */
  public static final class SamePrecision {
    public final String name;
    public final String staticName;
    public final double speedup;
    public final double efficiency;

    SamePrecision(String name, String staticName, double speedup, double efficiency) {
      this.name = name;
      this.staticName = staticName;
      this.speedup = speedup;
      this.efficiency = efficiency;
    }
  }

  public final String reference;
  public final Map<String, Row> rows;
  public final Map<String, SamePrecision> samePrecision;

  private Summary(String reference, Map<String, Row> rows, Map<String, SamePrecision> same) {
    this.reference = reference;
    this.rows = Collections.unmodifiableMap(rows);
    this.samePrecision = Collections.unmodifiableMap(same);
  }

  /**
   * @param records per-image records by name, in display order
   * @param reference the name every row is compared with (a static model)
   */
  public static Summary compute(Map<String, ModelRecord> records, String reference) {
    ModelRecord ref = records.get(reference);
    if (ref == null) {
      throw new IllegalArgumentException("Invalid value for reference: expected one of "
          + records.keySet() + ". Received: " + reference);
    }
    double refLatency = Stats.mean(ref.latencyMs);
    double refFlops = Stats.mean(ref.flops);
    Map<String, Row> rows = new LinkedHashMap<>();
    for (ModelRecord record : records.values()) {
      double latencyMean = Stats.mean(record.latencyMs);
      double meanFlops = Stats.mean(record.flops);
      double speedup = refLatency / latencyMean;
      double flopsSpeedup = refFlops / meanFlops;
      rows.put(record.name, new Row(record.name, Stats.mean(record.correct), meanFlops,
          meanFlops / refFlops, latencyMean, Stats.percentile(record.latencyMs, 50),
          Stats.percentile(record.latencyMs, 90), speedup, flopsSpeedup, speedup / flopsSpeedup,
          Stats.meanFloat32(record.gate), LatencyDecomposition.fit(record.latencyMs, record.gate)));
    }
    Map<String, SamePrecision> same = new LinkedHashMap<>();
    for (Row row : rows.values()) {
      if (!row.name.startsWith("dynamic")) {
        continue;
      }
      String staticName = "static" + row.name.substring("dynamic".length());
      Row staticRow = rows.get(staticName);
      if (staticRow == null) {
        continue;
      }
      double speedup = staticRow.latencyMean / row.latencyMean;
      double flopsSpeedup = staticRow.meanFlops / row.meanFlops;
      same.put(row.name, new SamePrecision(row.name, staticName, speedup, speedup / flopsSpeedup));
    }
    return new Summary(reference, rows, same);
  }
}
