package org.lcnet.demo.core;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

/**
 * Checked access to a Gson tree whose errors name the field ({@code models[dynamic].role:
 * expected a string, got 3}): how {@link Manifest} and {@link BudgetKnob} read what Python
 * wrote. Every failure is an {@link IllegalArgumentException}.
 */
final class JsonFields {
  private JsonFields() {}

  /** Neither missing nor JSON null. */
  static boolean present(JsonElement value) {
    return value != null && !value.isJsonNull();
  }

  /** {@code object[key]}, which must exist (it may be JSON null). */
  static JsonElement get(JsonObject object, String key, String what) {
    if (!object.has(key)) {
      throw new IllegalArgumentException(what + ": missing key \"" + key + "\"");
    }
    return object.get(key);
  }

  static JsonObject object(JsonElement value, String what) {
    if (value == null || !value.isJsonObject()) {
      throw expected(what, "a JSON object", value);
    }
    return value.getAsJsonObject();
  }

  static JsonArray array(JsonElement value, String what) {
    if (value == null || !value.isJsonArray()) {
      throw expected(what, "a JSON array", value);
    }
    return value.getAsJsonArray();
  }

  static String string(JsonElement value, String what) {
    if (!isString(value)) {
      throw expected(what, "a string", value);
    }
    return value.getAsString();
  }

  static boolean isString(JsonElement value) {
    return value != null && value.isJsonPrimitive() && value.getAsJsonPrimitive().isString();
  }

  /** An integral JSON number as an int. */
  static int integer(JsonElement value, String what) {
    long number = longInteger(value, what);
    if (Math.abs(number) > Integer.MAX_VALUE) {
      throw expected(what, "an integer", value);
    }
    return (int) number;
  }

  /** An integral JSON number (below 2^53, where doubles are exact) as a long. */
  static long longInteger(JsonElement value, String what) {
    double number = isNumber(value) ? value.getAsDouble() : Double.NaN;
    if (number != Math.rint(number) || Math.abs(number) > (double) (1L << 53)) {
      throw expected(what, "an integer", value);
    }
    return (long) number;
  }

  /**
   * A finite JSON number (Gson's lenient parser turns Python's {@code NaN} and {@code Infinity}
   * into numbers: refused here).
   */
  static double finite(JsonElement value, String what) {
    double number = isNumber(value) ? value.getAsDouble() : Double.NaN;
    if (!Double.isFinite(number)) {
      throw expected(what, "a finite number", value);
    }
    return number;
  }

  private static boolean isNumber(JsonElement value) {
    return value != null && value.isJsonPrimitive() && value.getAsJsonPrimitive().isNumber();
  }

  static IllegalArgumentException expected(String what, String kind, JsonElement value) {
    String text = String.valueOf(value);  // JSON text; "null" when missing.
    return new IllegalArgumentException(what + ": expected " + kind + ", got "
        + (text.length() > 60 ? text.substring(0, 60) + "..." : text));
  }
}
