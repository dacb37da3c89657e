package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Minimal JSON reader and writer (no dependencies: the core runs on the JVM and on Android).
 *
 * <p>Reading gives {@code LinkedHashMap<String, Object>} for objects (key order kept),
 * {@code ArrayList<Object>} for arrays, {@code Double} for numbers, {@code String}, {@code
 * Boolean} and {@code null}. {@code NaN}, {@code Infinity} and {@code -Infinity} are accepted
 * because Python's {@code json} module writes them. Writing turns non-finite numbers into
 * {@code null} (strict JSON).
 */
public final class Json {
  private final String text;
  private int position;

  private Json(String text) {
    this.text = text;
  }

  /** Parses one JSON value; trailing non-space characters are an error. */
  public static Object parse(String text) {
    Json parser = new Json(text);
    parser.skipSpace();
    Object value = parser.readValue();
    parser.skipSpace();
    if (parser.position != text.length()) {
      throw parser.error("unexpected trailing characters");
    }
    return value;
  }

  // ---- typed access -------------------------------------------------------------------------

  /** {@code value} as an object; {@code what} names it in the error message. */
  @SuppressWarnings("unchecked")
  public static Map<String, Object> asObject(Object value, String what) {
    if (!(value instanceof Map)) {
      throw new IllegalArgumentException(what + ": expected a JSON object, got " + describe(value));
    }
    return (Map<String, Object>) value;
  }

  /** {@code value} as an array. */
  @SuppressWarnings("unchecked")
  public static List<Object> asArray(Object value, String what) {
    if (!(value instanceof List)) {
      throw new IllegalArgumentException(what + ": expected a JSON array, got " + describe(value));
    }
    return (List<Object>) value;
  }

  /** {@code value} as a number (null stands for NaN, as written by {@link #write}). */
  public static double asDouble(Object value, String what) {
    if (value == null) {
      return Double.NaN;
    }
    if (!(value instanceof Number)) {
      throw new IllegalArgumentException(what + ": expected a number, got " + describe(value));
    }
    return ((Number) value).doubleValue();
  }

  /** {@code value} as an int (must be integral). */
  public static int asInt(Object value, String what) {
    double number = asDouble(value, what);
    if (number != Math.rint(number) || Math.abs(number) > Integer.MAX_VALUE) {
      throw new IllegalArgumentException(what + ": expected an integer, got " + describe(value));
    }
    return (int) number;
  }

  /** {@code value} as a long (must be integral). */
  public static long asLong(Object value, String what) {
    double number = asDouble(value, what);
    if (number != Math.rint(number) || Math.abs(number) > 9.007199254740992E15) {
      throw new IllegalArgumentException(what + ": expected an integer, got " + describe(value));
    }
    return (long) number;
  }

  /** {@code value} as a string. */
  public static String asString(Object value, String what) {
    if (!(value instanceof String)) {
      throw new IllegalArgumentException(what + ": expected a string, got " + describe(value));
    }
    return (String) value;
  }

  /** {@code value} as a boolean. */
  public static boolean asBoolean(Object value, String what) {
    if (!(value instanceof Boolean)) {
      throw new IllegalArgumentException(what + ": expected true/false, got " + describe(value));
    }
    return (Boolean) value;
  }

  /** {@code object[key]}, which must exist. */
  public static Object get(Map<String, Object> object, String key, String what) {
    if (!object.containsKey(key)) {
      throw new IllegalArgumentException(what + ": missing key \"" + key + "\"");
    }
    return object.get(key);
  }

  /** A JSON array of numbers as a double[]. */
  public static double[] asDoubleArray(Object value, String what) {
    List<Object> list = asArray(value, what);
    double[] result = new double[list.size()];
    for (int i = 0; i < result.length; i++) {
      result[i] = asDouble(list.get(i), what + "[" + i + "]");
    }
    return result;
  }

  /** A JSON array of integers as an int[]. */
  public static int[] asIntArray(Object value, String what) {
    List<Object> list = asArray(value, what);
    int[] result = new int[list.size()];
    for (int i = 0; i < result.length; i++) {
      result[i] = asInt(list.get(i), what + "[" + i + "]");
    }
    return result;
  }

  private static String describe(Object value) {
    if (value == null) {
      return "null";
    }
    String text = value instanceof String ? "\"" + value + "\"" : String.valueOf(value);
    return text.length() > 60 ? text.substring(0, 60) + "..." : text;
  }

  // ---- writing ------------------------------------------------------------------------------

  /**
   * Writes maps, lists, strings, numbers, booleans, null, and double[] / float[] / int[] /
   * long[] / boolean[] arrays. {@code indent} > 0 pretty-prints with that many spaces.
   */
  public static String write(Object value, int indent) {
    StringBuilder out = new StringBuilder();
    writeValue(out, value, indent, 0);
    return out.toString();
  }

  private static void writeValue(StringBuilder out, Object value, int indent, int depth) {
    if (value == null) {
      out.append("null");
    } else if (value instanceof String) {
      writeString(out, (String) value);
    } else if (value instanceof Boolean) {
      out.append(value.toString());
    } else if (value instanceof Double || value instanceof Float) {
      writeNumber(out, ((Number) value).doubleValue());
    } else if (value instanceof Number) {
      out.append(value.toString());
    } else if (value instanceof Map) {
      Map<?, ?> map = (Map<?, ?>) value;
      out.append('{');
      Iterator<? extends Map.Entry<?, ?>> entries = map.entrySet().iterator();
      boolean first = true;
      while (entries.hasNext()) {
        Map.Entry<?, ?> entry = entries.next();
        if (!first) {
          out.append(',');
        }
        first = false;
        newline(out, indent, depth + 1);
        writeString(out, String.valueOf(entry.getKey()));
        out.append(indent > 0 ? ": " : ":");
        writeValue(out, entry.getValue(), indent, depth + 1);
      }
      if (!first) {
        newline(out, indent, depth);
      }
      out.append('}');
    } else if (value instanceof List) {
      writeList(out, (List<?>) value, indent, depth);
    } else if (value instanceof double[]) {
      List<Object> list = new ArrayList<>();
      for (double item : (double[]) value) {
        list.add(item);
      }
      writeList(out, list, 0, depth);
    } else if (value instanceof float[]) {
      List<Object> list = new ArrayList<>();
      for (float item : (float[]) value) {
        list.add((double) item);
      }
      writeList(out, list, 0, depth);
    } else if (value instanceof int[]) {
      List<Object> list = new ArrayList<>();
      for (int item : (int[]) value) {
        list.add(item);
      }
      writeList(out, list, 0, depth);
    } else if (value instanceof long[]) {
      List<Object> list = new ArrayList<>();
      for (long item : (long[]) value) {
        list.add(item);
      }
      writeList(out, list, 0, depth);
    } else if (value instanceof boolean[]) {
      List<Object> list = new ArrayList<>();
      for (boolean item : (boolean[]) value) {
        list.add(item);
      }
      writeList(out, list, 0, depth);
    } else {
      throw new IllegalArgumentException("Cannot write " + value.getClass() + " as JSON");
    }
  }

  private static void writeList(StringBuilder out, List<?> list, int indent, int depth) {
    out.append('[');
    boolean simple = true;
    for (Object item : list) {
      simple &= !(item instanceof Map || item instanceof List);
    }
    int itemIndent = simple ? 0 : indent;
    for (int i = 0; i < list.size(); i++) {
      if (i > 0) {
        out.append(simple ? ", " : ",");
      }
      newline(out, itemIndent, depth + 1);
      writeValue(out, list.get(i), indent, depth + 1);
    }
    if (!list.isEmpty()) {
      newline(out, itemIndent, depth);
    }
    out.append(']');
  }

  private static void newline(StringBuilder out, int indent, int depth) {
    if (indent <= 0) {
      return;
    }
    out.append('\n');
    for (int i = 0; i < indent * depth; i++) {
      out.append(' ');
    }
  }

  private static void writeNumber(StringBuilder out, double number) {
    if (Double.isNaN(number) || Double.isInfinite(number)) {
      out.append("null");
    } else {
      out.append(Double.toString(number));  // Round-trips exactly.
    }
  }

  private static void writeString(StringBuilder out, String value) {
    out.append('"');
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      switch (c) {
        case '"':
          out.append("\\\"");
          break;
        case '\\':
          out.append("\\\\");
          break;
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        case '\b':
          out.append("\\b");
          break;
        case '\f':
          out.append("\\f");
          break;
        default:
          if (c < 0x20) {
            out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
          } else {
            out.append(c);
          }
      }
    }
    out.append('"');
  }

  // ---- parsing ------------------------------------------------------------------------------

  private Object readValue() {
    if (position >= text.length()) {
      throw error("unexpected end of input");
    }
    char c = text.charAt(position);
    switch (c) {
      case '{':
        return readObject();
      case '[':
        return readArray();
      case '"':
        return readString();
      case 't':
        expectWord("true");
        return Boolean.TRUE;
      case 'f':
        expectWord("false");
        return Boolean.FALSE;
      case 'n':
        expectWord("null");
        return null;
      case 'N':
        expectWord("NaN");
        return Double.NaN;
      case 'I':
        expectWord("Infinity");
        return Double.POSITIVE_INFINITY;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) {
          return readNumber();
        }
        throw error("unexpected character '" + c + "'");
    }
  }

  private Map<String, Object> readObject() {
    Map<String, Object> object = new LinkedHashMap<>();
    position++;  // {
    skipSpace();
    if (peek() == '}') {
      position++;
      return object;
    }
    while (true) {
      skipSpace();
      if (peek() != '"') {
        throw error("expected a string key");
      }
      String key = readString();
      skipSpace();
      expect(':');
      skipSpace();
      object.put(key, readValue());
      skipSpace();
      char c = next();
      if (c == '}') {
        return object;
      }
      if (c != ',') {
        throw error("expected ',' or '}'");
      }
    }
  }

  private List<Object> readArray() {
    List<Object> array = new ArrayList<>();
    position++;  // [
    skipSpace();
    if (peek() == ']') {
      position++;
      return array;
    }
    while (true) {
      skipSpace();
      array.add(readValue());
      skipSpace();
      char c = next();
      if (c == ']') {
        return array;
      }
      if (c != ',') {
        throw error("expected ',' or ']'");
      }
    }
  }

  private String readString() {
    expect('"');
    StringBuilder out = new StringBuilder();
    while (true) {
      char c = next();
      if (c == '"') {
        return out.toString();
      }
      if (c == '\\') {
        char escape = next();
        switch (escape) {
          case '"':
          case '\\':
          case '/':
            out.append(escape);
            break;
          case 'n':
            out.append('\n');
            break;
          case 'r':
            out.append('\r');
            break;
          case 't':
            out.append('\t');
            break;
          case 'b':
            out.append('\b');
            break;
          case 'f':
            out.append('\f');
            break;
          case 'u':
            if (position + 4 > text.length()) {
              throw error("truncated \\u escape");
            }
            try {
              out.append((char) Integer.parseInt(text.substring(position, position + 4), 16));
            } catch (NumberFormatException e) {
              throw error("bad \\u escape");
            }
            position += 4;
            break;
          default:
            throw error("bad escape \\" + escape);
        }
      } else {
        out.append(c);
      }
    }
  }

  private Object readNumber() {
    int start = position;
    if (peek() == '-') {
      position++;
      if (position < text.length() && text.charAt(position) == 'I') {
        expectWord("Infinity");
        return Double.NEGATIVE_INFINITY;
      }
    }
    while (position < text.length() && "+-0123456789.eE".indexOf(text.charAt(position)) >= 0) {
      position++;
    }
    String token = text.substring(start, position);
    try {
      return Double.parseDouble(token);
    } catch (NumberFormatException e) {
      throw error("bad number '" + token + "'");
    }
  }

  private void expectWord(String word) {
    if (!text.startsWith(word, position)) {
      throw error("expected '" + word + "'");
    }
    position += word.length();
  }

  private void expect(char c) {
    if (next() != c) {
      throw error("expected '" + c + "'");
    }
  }

  private char peek() {
    if (position >= text.length()) {
      throw error("unexpected end of input");
    }
    return text.charAt(position);
  }

  private char next() {
    char c = peek();
    position++;
    return c;
  }

  private void skipSpace() {
    while (position < text.length() && Character.isWhitespace(text.charAt(position))) {
      position++;
    }
  }

  private IllegalArgumentException error(String message) {
    return new IllegalArgumentException("Invalid JSON at character " + position + ": " + message);
  }
}
