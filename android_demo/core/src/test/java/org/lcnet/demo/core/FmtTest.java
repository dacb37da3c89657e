package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

/** Expected strings are Python's f-string output. */
public class FmtTest {
  @Test
  public void roundsTheExactBinaryValueHalfToEvenLikePython() {
    assertEquals("0.12", Fmt.fixed(0.125, 2));    // Java's %.2f: 0.13
    assertEquals("2.67", Fmt.fixed(2.675, 2));    // Java's %.2f: 2.68
    assertEquals("0.00", Fmt.fixed(0.0005, 2));
    assertEquals("0.001", Fmt.fixed(0.0005, 3));
    assertEquals("1.000", Fmt.fixed(1.0005, 3));
    assertEquals("2", Fmt.fixed(2.5, 0));
    assertEquals("4", Fmt.fixed(3.5, 0));
    assertEquals("-1.250", Fmt.fixed(-1.25, 3));
    assertEquals("333333.33", Fmt.fixed(1e6 / 3, 2));
  }

  @Test
  public void keepsTheSignOfNegativeValuesThatRoundToZero() {
    assertEquals("-0.00", Fmt.fixed(-0.0004, 2));
    assertEquals("-0.000", Fmt.fixed(-0.0004, 3));
    assertEquals("-0.0", Fmt.fixed(-0.0, 1));
  }

  @Test
  public void nonFiniteValuesAndPadding() {
    assertEquals("nan", Fmt.fixed(Double.NaN, 2));
    assertEquals("inf", Fmt.fixed(Double.POSITIVE_INFINITY, 2));
    assertEquals("-inf", Fmt.fixed(Double.NEGATIVE_INFINITY, 2));
    assertEquals("     0.12", Fmt.fixed(0.125, 2, 9));
    assertEquals("static   ", Fmt.padRight("static", 9));
    assertEquals("a_very_long_name", Fmt.padRight("a_very_long_name", 4));
  }
}
