package org.lcnet.demo.core;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * Python's {@code format(value, ".Nf")}, so that the phone's table is the text Python prints.
 *
 * <p>Java's {@code String.format("%.3f")} rounds the shortest decimal representation half-up;
 * Python rounds the exact binary value half-to-even (0.125 -> "0.12" in Python, "0.13" in
 * Java; 2.675 -> "2.67" in Python, "2.68" in Java). This class does what Python does.
 */
public final class Fmt {
  private Fmt() {}

  /** {@code f"{value:.{decimals}f}"}. */
  public static String fixed(double value, int decimals) {
    if (Double.isNaN(value)) {
      return "nan";
    }
    if (Double.isInfinite(value)) {
      return value > 0 ? "inf" : "-inf";
    }
    String text = new BigDecimal(value).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
    boolean negative = value < 0 || (value == 0 && 1 / value < 0);
    if (negative && !text.startsWith("-")) {
      text = "-" + text;  // Python keeps the sign of values that round to zero: "-0.000".
    }
    return text;
  }

  /** {@code f"{value:>{width}.{decimals}f}"}. */
  public static String fixed(double value, int decimals, int width) {
    return padLeft(fixed(value, decimals), width);
  }

  /** {@code f"{text:>{width}}"}. */
  public static String padLeft(String text, int width) {
    StringBuilder out = new StringBuilder();
    for (int i = text.length(); i < width; i++) {
      out.append(' ');
    }
    return out.append(text).toString();
  }

  /** {@code f"{text:<{width}}"}. */
  public static String padRight(String text, int width) {
    StringBuilder out = new StringBuilder(text);
    while (out.length() < width) {
      out.append(' ');
    }
    return out.toString();
  }

  /** {@code "-" * count}. */
  public static String repeat(char c, int count) {
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < count; i++) {
      out.append(c);
    }
    return out.toString();
  }
}
