package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The per-image latency-vs-FLOPs scatter (Python's latency_vs_flops.png) as data: one series per
 * model, axes with round ticks. The app only draws it.
 */
public final class ScatterPlot {
  /** One model's points: x = realized MFLOPs, y = latency ms. */
  public static final class Series {
    public final String name;
    public final double[] mflops;
    public final double[] latencyMs;

    Series(String name, double[] mflops, double[] latencyMs) {
      this.name = name;
      this.mflops = mflops;
      this.latencyMs = latencyMs;
    }
  }

  /** An axis from {@code min} to {@code max} with ticks at multiples of {@code step}. */
  public static final class Axis {
    public final double min;
    public final double max;
    public final double step;
    public final List<Double> ticks;

    Axis(double min, double max, double step, List<Double> ticks) {
      this.min = min;
      this.max = max;
      this.step = step;
      this.ticks = Collections.unmodifiableList(ticks);
    }

    /** Where {@code value} falls, 0 at min and 1 at max (clamped). */
    public double fraction(double value) {
      double f = (value - min) / (max - min);
      return Math.max(0, Math.min(1, f));
    }
  }

  public final List<Series> series;
  public final Axis x;
  public final Axis y;

  private ScatterPlot(List<Series> series, Axis x, Axis y) {
    this.series = Collections.unmodifiableList(series);
    this.x = x;
    this.y = y;
  }

  /**
   * The scatter of every model. The x axis starts at 0 (FLOPs are compared as fractions); the y
   * axis ends at the 99th latency percentile over all points, so that a few scheduler spikes do
   * not squash the cloud (those points are drawn at the top edge).
   */
  public static ScatterPlot of(Map<String, ModelRecord> records) {
    List<Series> series = new ArrayList<>();
    double maxFlops = 0;
    int total = 0;
    for (ModelRecord record : records.values()) {
      double[] mflops = new double[record.numImages()];
      for (int i = 0; i < mflops.length; i++) {
        mflops[i] = record.flops[i] / 1e6;
        maxFlops = Math.max(maxFlops, mflops[i]);
      }
      series.add(new Series(record.name, mflops, record.latencyMs.clone()));
      total += record.numImages();
    }
    double[] all = new double[total];
    int offset = 0;
    for (Series s : series) {
      System.arraycopy(s.latencyMs, 0, all, offset, s.latencyMs.length);
      offset += s.latencyMs.length;
    }
    double maxLatency = total == 0 ? 1 : Stats.percentile(all, 99);
    return new ScatterPlot(series, niceAxis(0, maxFlops, 5), niceAxis(0, maxLatency, 5));
  }

  /** An axis covering [min, max] with about {@code targetTicks} ticks at 1, 2 or 5 x 10^k. */
  public static Axis niceAxis(double min, double max, int targetTicks) {
    if (!(max > min)) {
      max = min + 1;
    }
    double raw = (max - min) / Math.max(1, targetTicks);
    double magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    double step = magnitude;
    for (double factor : new double[] {1, 2, 5, 10}) {
      step = factor * magnitude;
      if (step >= raw) {
        break;
      }
    }
    double lo = Math.floor(min / step) * step;
    double hi = Math.ceil(max / step) * step;
    List<Double> ticks = new ArrayList<>();
    for (int k = 0; lo + k * step <= hi + step * 1e-9; k++) {
      ticks.add(lo + k * step);
    }
    return new Axis(lo, hi, step, ticks);
  }
}
