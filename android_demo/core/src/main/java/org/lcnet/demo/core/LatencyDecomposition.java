package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * {@code lcnet_tf.export.benchmark.latency_decomposition}: the least-squares fit
 * {@code latency = fixed + sum_b gate_b * run_b} over the images.
 *
 * <p>{@code fixed} is what an image costs with every gated block skipped, {@code run_b} what
 * running block b adds. Python solves it with {@code np.linalg.lstsq} (SVD); this class with a
 * Householder QR: the same solution to rounding (about 1e-13 relative for these 0/1 designs).
 * Identifiability follows Python: no fit when no decision varies, when there are not more
 * images than unknowns plus one, or when the design is rank deficient (collinear decisions).
 */
public final class LatencyDecomposition {
  /** Latency with every varying gated block skipped (always-running blocks included), ms. */
  public final double fixedMs;
  /** Per block: ms running it adds, or null for blocks whose decision never changes. */
  public final List<Double> runMs;
  public final double r2;
  /** Blocks whose decision never changes and that always run (folded into fixed). */
  public final List<Integer> alwaysRunBlocks;

  private LatencyDecomposition(double fixedMs, List<Double> runMs, double r2,
      List<Integer> alwaysRunBlocks) {
    this.fixedMs = fixedMs;
    this.runMs = Collections.unmodifiableList(runMs);
    this.r2 = r2;
    this.alwaysRunBlocks = Collections.unmodifiableList(alwaysRunBlocks);
  }

  /** The fit, or null when it is not identifiable (see the class comment). */
  public static LatencyDecomposition fit(double[] latencyMs, float[][] gate) {
    int n = latencyMs.length;
    int blocks = n == 0 ? 0 : gate[0].length;
    List<Integer> varying = new ArrayList<>();
    for (int b = 0; b < blocks; b++) {
      for (int i = 1; i < n; i++) {
        if (gate[i][b] != gate[0][b]) {
          varying.add(b);
          break;
        }
      }
    }
    if (varying.isEmpty() || n <= varying.size() + 1) {
      return null;
    }
    int p = varying.size() + 1;
    double[][] design = new double[n][p];
    for (int i = 0; i < n; i++) {
      design[i][0] = 1.0;
      for (int j = 1; j < p; j++) {
        design[i][j] = gate[i][varying.get(j - 1)];
      }
    }
    double[] coef = leastSquares(design, latencyMs);
    if (coef == null) {
      return null;
    }
    double mean = Stats.mean(latencyMs);
    double total = 0;
    double residual = 0;
    for (int i = 0; i < n; i++) {
      double fitted = 0;
      for (int j = 0; j < p; j++) {
        fitted += design[i][j] * coef[j];
      }
      total += (latencyMs[i] - mean) * (latencyMs[i] - mean);
      residual += (latencyMs[i] - fitted) * (latencyMs[i] - fitted);
    }
    double r2 = total > 0 ? 1.0 - residual / total : 0.0;
    List<Double> runMs = new ArrayList<>();
    for (int b = 0; b < blocks; b++) {
      runMs.add(null);
    }
    for (int j = 1; j < p; j++) {
      runMs.set(varying.get(j - 1), coef[j]);
    }
    List<Integer> always = new ArrayList<>();
    for (int b = 0; b < blocks; b++) {
      if (!varying.contains(b) && gate[0][b] > 0) {
        always.add(b);
      }
    }
    return new LatencyDecomposition(coef[0], runMs, r2, always);
  }

  /**
   * Minimises |A x - y| by Householder QR; null if A (n x p, n > p) is rank deficient, with
   * NumPy's matrix_rank tolerance (largest scale x max(n, p) x machine epsilon) applied to the
   * diagonal of R.
   */
  static double[] leastSquares(double[][] design, double[] target) {
    int n = design.length;
    int p = design[0].length;
    double[][] a = new double[n][];
    for (int i = 0; i < n; i++) {
      a[i] = design[i].clone();
    }
    double[] y = target.clone();
    double[] diagonal = new double[p];
    for (int k = 0; k < p; k++) {
      double norm = 0;
      for (int i = k; i < n; i++) {
        norm = Math.hypot(norm, a[i][k]);
      }
      if (norm == 0) {
        diagonal[k] = 0;
        continue;
      }
      if (a[k][k] < 0) {
        norm = -norm;
      }
      for (int i = k; i < n; i++) {
        a[i][k] /= norm;
      }
      a[k][k] += 1.0;
      for (int j = k + 1; j < p; j++) {
        double s = 0;
        for (int i = k; i < n; i++) {
          s += a[i][k] * a[i][j];
        }
        s = -s / a[k][k];
        for (int i = k; i < n; i++) {
          a[i][j] += s * a[i][k];
        }
      }
      double s = 0;
      for (int i = k; i < n; i++) {
        s += a[i][k] * y[i];
      }
      s = -s / a[k][k];
      for (int i = k; i < n; i++) {
        y[i] += s * a[i][k];
      }
      diagonal[k] = -norm;
    }
    double largest = 0;
    for (double d : diagonal) {
      largest = Math.max(largest, Math.abs(d));
    }
    double tolerance = largest * Math.max(n, p) * Math.ulp(1.0);
    for (double d : diagonal) {
      if (Math.abs(d) <= tolerance) {
        return null;
      }
    }
    double[] x = new double[p];
    for (int k = p - 1; k >= 0; k--) {
      double s = y[k];
      for (int j = k + 1; j < p; j++) {
        s -= a[k][j] * x[j];
      }
      x[k] = s / diagonal[k];
    }
    return x;
  }
}
