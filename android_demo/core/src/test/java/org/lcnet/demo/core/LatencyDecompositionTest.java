package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;

import java.util.Arrays;
import org.junit.Test;

public class LatencyDecompositionTest {
  private static final float[][] GATES = {
      {1, 1, 0, 1}, {1, 0, 1, 1}, {1, 1, 1, 1}, {1, 0, 0, 1}, {1, 1, 0, 1}, {1, 0, 1, 1},
      {1, 0, 0, 1}};

  @Test
  public void recoversBlockCostsExactlyWithoutNoise() {
    double[] latency = new double[GATES.length];
    for (int i = 0; i < GATES.length; i++) {
      latency[i] = 0.25 + 0.5 * GATES[i][1] + 0.125 * GATES[i][2];
    }
    LatencyDecomposition fit = LatencyDecomposition.fit(latency, GATES);
    assertEquals(0.25, fit.fixedMs, 1e-12);
    assertEquals(null, fit.runMs.get(0));
    assertEquals(0.5, fit.runMs.get(1), 1e-12);
    assertEquals(0.125, fit.runMs.get(2), 1e-12);
    assertEquals(null, fit.runMs.get(3));
    assertEquals(1.0, fit.r2, 1e-12);
    assertEquals(Arrays.asList(0, 3), fit.alwaysRunBlocks);  // Never vary, always run.
  }

  @Test
  public void noFitWhenDecisionsNeverVaryAreTooFewOrCollinear() {
    double[] latency = {1, 2, 3, 4, 5, 6, 7};
    float[][] constant = new float[7][2];
    assertNull(LatencyDecomposition.fit(latency, constant));
    float[][] collinear = new float[7][2];
    for (int i = 0; i < 7; i++) {
      collinear[i][0] = i % 2;
      collinear[i][1] = i % 2;
    }
    assertNull(LatencyDecomposition.fit(latency, collinear));
    float[][] tooFew = {{0, 1}, {1, 0}, {1, 1}};  // 3 images, 3 unknowns.
    assertNull(LatencyDecomposition.fit(new double[] {1, 2, 3}, tooFew));
  }
}
