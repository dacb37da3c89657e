package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

/** Expected values are NumPy 2.4's, printed with repr (exact doubles): equality is exact. */
public class StatsTest {
  private static final double[] A = {0.1, 0.7, 0.3, 0.9, 0.5};
  private static final double[] B = {1.0, 2.0, 3.0, 4.0};
  private static final double[] C = {0.3, 0.1, 0.2, 0.7, 0.11, 0.13, 0.17, 0.19, 0.23, 0.29, 0.31,
      0.37, 0.41, 0.43, 0.47, 0.53};
  private static final double[] TIES = {2.0, 2.0, 2.0, 1.0, 3.0, 3.0};
  private static final double[] QS = {0, 10, 25, 50, 75, 90, 99, 100};

  private static void assertPercentiles(double[] values, double... expected) {
    for (int i = 0; i < QS.length; i++) {
      assertEquals("q=" + QS[i], expected[i], Stats.percentile(values, QS[i]), 0.0);
    }
  }

  @Test
  public void percentileIsNumpysLinearMethod() {
    assertPercentiles(A, 0.1, 0.18, 0.3, 0.5, 0.7, 0.8200000000000001, 0.892, 0.9);
    assertPercentiles(B, 1.0, 1.3, 1.75, 2.5, 3.25, 3.7, 3.9699999999999998, 4.0);
    assertPercentiles(C, 0.1, 0.12, 0.185, 0.295, 0.415, 0.5, 0.6744999999999999, 0.7);
    assertPercentiles(TIES, 1.0, 1.5, 2.0, 2.0, 2.75, 3.0, 3.0, 3.0);
    assertPercentiles(new double[] {5.0}, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0);
  }

  @Test
  public void percentileUsesNumpysTwoSidedInterpolation() {
    // Weight >= 0.5: NumPy computes b - (b - a) * (1 - g); a + (b - a) * g differs in the last
    // bit for these values (4.624116255135542).
    double[] values = {1.4813368202731203, 1.5473826214402486, 2.186466759597203,
        2.601595954549727, 5.97246312219275};
    assertEquals(4.624116255135541, Stats.percentile(values, 90), 0.0);
    double[] six = {0.08252937023451201, 0.1279898141412028, 0.7177918775720094,
        1.9572234093014251, 3.458003492907087, 8.148144025396146};
    assertEquals(5.803073759151617, Stats.percentile(six, 90), 0.0);
  }

  @Test
  public void percentileDoesNotReorderItsInput() {
    double[] values = {3, 1, 2};
    Stats.percentile(values, 50);
    assertEquals(3.0, values[0], 0.0);
  }

  @Test
  public void percentileOfNanIsNanAndBadInputsThrow() {
    assertTrue(Double.isNaN(Stats.percentile(new double[] {1, Double.NaN, 2}, 50)));
    assertThrows(IllegalArgumentException.class, () -> Stats.percentile(new double[0], 50));
    assertThrows(IllegalArgumentException.class, () -> Stats.percentile(A, 101));
    assertThrows(IllegalArgumentException.class, () -> Stats.percentile(A, Double.NaN));
  }

  @Test
  public void medianAndMeanAreNumpys() {
    assertEquals(0.5, Stats.median(A), 0.0);
    assertEquals(2.5, Stats.median(B), 0.0);
    assertEquals(0.295, Stats.median(C), 0.0);
    assertEquals(0.30874999999999997, Stats.mean(C), 0.0);
    assertEquals(2.1666666666666665, Stats.mean(TIES), 0.0);
    assertEquals(4.9399999999999995, Stats.sum(C), 0.0);
    assertTrue(Double.isNaN(Stats.median(new double[] {Double.NaN, 1})));
  }

  @Test
  public void sumIsPairwiseLikeNumpy() {
    double[] values = new double[300];
    double naive = 0;
    for (int i = 0; i < values.length; i++) {
      values[i] = i * 0.1 + 0.01;
      naive += values[i];
    }
    assertEquals(4488.0, Stats.sum(values), 0.0);  // np.add.reduce; a plain loop: 4488.000000000003
    assertEquals(4488.000000000003, naive, 0.0);
    assertEquals(14.96, Stats.mean(values), 0.0);
  }

  @Test
  public void float32MeanIsComputedInFloat32LikeNumpy() {
    float[][] gates = {{1, 0, 1}, {0, 0, 1}, {1, 1, 1}};
    assertEquals(0.6666666865348816, Stats.meanFloat32(gates), 0.0);
    float[][] sevenByThree = new float[7][3];
    for (int i = 0; i < 21; i++) {
      sevenByThree[i / 3][i % 3] = i % 3 == 0 ? 1f : 0f;
    }
    assertEquals(0.3333333432674408, Stats.meanFloat32(sevenByThree), 0.0);
  }

  @Test
  public void accuracyIsTheFractionOfTrueValues() {
    assertEquals(0.75, Stats.mean(new boolean[] {true, false, true, true}), 0.0);
  }

  @Test
  public void argmaxTakesTheFirstMaximumAndTheFirstNan() {
    assertEquals(1, Stats.argmax(new float[] {1, 3, 3, 2}));
    assertEquals(1, Stats.argmax(new float[] {1, Float.NaN, 3}));
    assertEquals(0, Stats.argmax(new float[] {-2}));
  }
}
