package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class JsonTest {
  @Test
  public void parsesWhatPythonWrites() {
    Map<String, Object> value = Json.asObject(Json.parse(
        "{\"b\": [1, 2.5, -3e-2, true, null], \"a\": \"\\u00e9\\n\\\"x\\\"\", \"n\": NaN,"
            + " \"i\": -Infinity, \"e\": {}}"), "value");
    assertEquals(Arrays.asList("b", "a", "n", "i", "e"), new java.util.ArrayList<>(value.keySet()));
    List<Object> list = Json.asArray(value.get("b"), "b");
    assertEquals(1.0, Json.asDouble(list.get(0), "0"), 0.0);
    assertEquals(-0.03, Json.asDouble(list.get(2), "2"), 0.0);
    assertEquals(Boolean.TRUE, list.get(3));
    assertNull(list.get(4));
    assertEquals("\u00e9\n\"x\"", value.get("a"));
    assertTrue(Double.isNaN((Double) value.get("n")));
    assertEquals(Double.NEGATIVE_INFINITY, (Double) value.get("i"), 0.0);
  }

  @Test
  public void writesAndReadsBackExactly() {
    Map<String, Object> value = new LinkedHashMap<>();
    value.put("third", 1.0 / 3);
    value.put("tiny", 4.9e-324);
    value.put("nan", Double.NaN);
    value.put("ints", new int[] {1, -2});
    value.put("text", "tab\tquote\"");
    for (int indent : new int[] {0, 2}) {
      Map<String, Object> back = Json.asObject(Json.parse(Json.write(value, indent)), "back");
      assertEquals(1.0 / 3, Json.asDouble(back.get("third"), "third"), 0.0);
      assertEquals(4.9e-324, Json.asDouble(back.get("tiny"), "tiny"), 0.0);
      assertNull(back.get("nan"));  // Strict JSON: non-finite numbers become null.
      assertEquals(2, Json.asIntArray(back.get("ints"), "ints").length);
      assertEquals("tab\tquote\"", back.get("text"));
    }
  }

  @Test
  public void rejectsMalformedInputWithAPosition() {
    for (String bad : new String[] {"{", "[1,]", "{\"a\" 1}", "tru", "1 2", "\"\\q\""}) {
      IllegalArgumentException error =
          assertThrows(IllegalArgumentException.class, () -> Json.parse(bad));
      assertTrue(error.getMessage(), error.getMessage().startsWith("Invalid JSON at character"));
    }
    assertThrows(IllegalArgumentException.class, () -> Json.asInt(1.5, "x"));
  }
}
