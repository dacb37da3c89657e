package org.lcnet.demo.core;

import java.util.Arrays;

/**
 * The statistics of {@code lcnet_tf.export.benchmark}, computed the way NumPy computes them.
 *
 * <p>Not "close to" NumPy: the same operations in the same order, so that a summary computed on
 * a phone from the same per-image numbers is bit-for-bit the one Python prints (the golden
 * cross-check in tests/android_demo holds both sides to it):
 *
 * <ul>
 *   <li>{@link #sum}: NumPy's pairwise summation ({@code np.add.reduce} on a contiguous float64
 *       array: 8 accumulators over blocks of at most 128 values, halves above that);
 *   <li>{@link #mean}: that sum divided by n ({@code ndarray.mean});
 *   <li>{@link #percentile}: {@code np.percentile(values, q)} with the default method "linear"
 *       (Hyndman-Fan 7), including NumPy's two-sided interpolation formula;
 *   <li>{@link #median}: {@code np.median} (mean of the two middle values for even n);
 *   <li>{@link #meanFloat32}: {@code np.mean} of a float32 array, which NumPy accumulates and
 *       divides in float32 (the per-block gate outputs of the model are float32).
 * </ul>
 */
public final class Stats {
  private static final int PAIRWISE_BLOCK = 128;

  private Stats() {}

  /** {@code np.add.reduce(values)} for a float64 array (pairwise summation). */
  public static double sum(double[] values) {
    return pairwiseSum(values, 0, values.length);
  }

  private static double pairwiseSum(double[] a, int start, int n) {
    if (n < 8) {
      double result = 0.0;
      for (int i = 0; i < n; i++) {
        result += a[start + i];
      }
      return result;
    }
    if (n <= PAIRWISE_BLOCK) {
      double r0 = a[start];
      double r1 = a[start + 1];
      double r2 = a[start + 2];
      double r3 = a[start + 3];
      double r4 = a[start + 4];
      double r5 = a[start + 5];
      double r6 = a[start + 6];
      double r7 = a[start + 7];
      int i;
      for (i = 8; i < n - (n % 8); i += 8) {
        r0 += a[start + i];
        r1 += a[start + i + 1];
        r2 += a[start + i + 2];
        r3 += a[start + i + 3];
        r4 += a[start + i + 4];
        r5 += a[start + i + 5];
        r6 += a[start + i + 6];
        r7 += a[start + i + 7];
      }
      double result = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
      for (; i < n; i++) {
        result += a[start + i];
      }
      return result;
    }
    int half = n / 2;
    half -= half % 8;
    return pairwiseSum(a, start, half) + pairwiseSum(a, start + half, n - half);
  }

  /** {@code np.mean(values)} for a non-empty float64 array. */
  public static double mean(double[] values) {
    requireNonEmpty(values.length);
    return sum(values) / values.length;
  }

  /** {@code np.mean(flags)} for a non-empty bool array: the fraction of true values. */
  public static double mean(boolean[] flags) {
    requireNonEmpty(flags.length);
    int count = 0;
    for (boolean flag : flags) {
      count += flag ? 1 : 0;
    }
    return (double) count / flags.length;
  }

  /**
   * {@code float(np.mean(rows))} where {@code rows} is a float32 (N, B) array: pairwise float32
   * summation over the flattened values, then a float32 division.
   */
  public static double meanFloat32(float[][] rows) {
    int total = 0;
    for (float[] row : rows) {
      total += row.length;
    }
    requireNonEmpty(total);
    float[] flat = new float[total];
    int offset = 0;
    for (float[] row : rows) {
      System.arraycopy(row, 0, flat, offset, row.length);
      offset += row.length;
    }
    float sum = pairwiseSumFloat(flat, 0, total);
    return (double) (sum / (float) total);
  }

  private static float pairwiseSumFloat(float[] a, int start, int n) {
    if (n < 8) {
      float result = 0.0f;
      for (int i = 0; i < n; i++) {
        result += a[start + i];
      }
      return result;
    }
    if (n <= PAIRWISE_BLOCK) {
      float[] r = new float[8];
      System.arraycopy(a, start, r, 0, 8);
      int i;
      for (i = 8; i < n - (n % 8); i += 8) {
        for (int j = 0; j < 8; j++) {
          r[j] += a[start + i + j];
        }
      }
      float result = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; i++) {
        result += a[start + i];
      }
      return result;
    }
    int half = n / 2;
    half -= half % 8;
    return pairwiseSumFloat(a, start, half) + pairwiseSumFloat(a, start + half, n - half);
  }

  /** {@code np.median(values)}: NaN if any value is NaN. */
  public static double median(double[] values) {
    requireNonEmpty(values.length);
    double[] sorted = sortedOrNull(values);
    if (sorted == null) {
      return Double.NaN;
    }
    int n = sorted.length;
    if (n % 2 == 1) {
      return sorted[n / 2];
    }
    return (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
  }

  /**
   * {@code np.percentile(values, q)} (method "linear"): NaN if any value is NaN.
   *
   * <p>NumPy: the virtual index is {@code (n - 1) * (q / 100)}; below it {@code a}, above it
   * {@code b}, weight {@code g} = its fractional part; the result is {@code a + (b - a) * g}
   * for {@code g < 0.5} and {@code b - (b - a) * (1 - g)} otherwise. At or past the last index
   * both neighbours are the maximum.
   *
   * @param q percentile in [0, 100]
   */
  public static double percentile(double[] values, double q) {
    requireNonEmpty(values.length);
    if (!(q >= 0 && q <= 100)) {
      throw new IllegalArgumentException("Invalid value for q: expected 0 <= q <= 100. Received: " + q);
    }
    double[] sorted = sortedOrNull(values);
    if (sorted == null) {
      return Double.NaN;
    }
    int n = sorted.length;
    double quantile = q / 100.0;
    double virtualIndex = (n - 1) * quantile;
    double previousIndex = Math.floor(virtualIndex);
    int previous = (int) previousIndex;
    int next = previous + 1;
    if (virtualIndex >= n - 1) {
      // NumPy sets both neighbours to index -1 (the maximum); the weight uses that -1.
      previous = n - 1;
      next = n - 1;
      previousIndex = -1;
    }
    double gamma = virtualIndex - previousIndex;
    double a = sorted[previous];
    double b = sorted[next];
    double difference = b - a;
    if (gamma >= 0.5) {
      return b - difference * (1 - gamma);
    }
    return a + difference * gamma;
  }

  /** Index of the first maximum ({@code np.argmax}; the first NaN wins, as in NumPy). */
  public static int argmax(float[] values) {
    requireNonEmpty(values.length);
    int best = 0;
    for (int i = 0; i < values.length; i++) {
      if (Float.isNaN(values[i])) {
        return i;
      }
      if (values[i] > values[best]) {
        best = i;
      }
    }
    return best;
  }

  private static double[] sortedOrNull(double[] values) {
    double[] sorted = Arrays.copyOf(values, values.length);
    Arrays.sort(sorted);  // NaN sorts last.
    return Double.isNaN(sorted[sorted.length - 1]) ? null : sorted;
  }

  private static void requireNonEmpty(int length) {
    if (length == 0) {
      throw new IllegalArgumentException("Statistics of an empty array are undefined.");
    }
  }
}
