package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.Test;

public class LaunchOptionsTest {
  private static Map<String, String> extras(String... pairs) {
    Map<String, String> map = new HashMap<>();
    for (int i = 0; i < pairs.length; i += 2) {
      map.put(pairs[i], pairs[i + 1]);
    }
    return map;
  }

  @Test
  public void defaultsRunEverythingOnOneThread() {
    LaunchOptions options = LaunchOptions.defaults(ManifestTest.sample());
    assertEquals(Arrays.asList("dynamic", "static", "dynamic_int8", "static_int8"), options.models);
    assertEquals(3, options.images);
    assertEquals(1, options.threads);
    assertEquals(1, options.repeats);
    assertEquals(50, options.chunk);
    assertTrue(options.xnnpack);
    assertFalse(options.autostart);
    assertEquals("static", options.reference);
  }

  @Test
  public void extrasSelectModelsImagesThreadsAndStartTheRun() {
    LaunchOptions options = LaunchOptions.parse(extras("models", "dynamic_int8, static_int8",
        "images", "2", "threads", "4", "repeats", "3", "chunk", "1", "autostart", "true",
        "xnnpack", "0", "profile", "ignored"), ManifestTest.sample());
    assertEquals(Arrays.asList("dynamic_int8", "static_int8"), options.models);
    assertEquals(2, options.images);
    assertEquals(4, options.threads);
    assertEquals(3, options.repeats);
    assertEquals(1, options.chunk);
    assertTrue(options.autostart);
    assertFalse(options.xnnpack);
    assertEquals("static_int8", options.reference);  // "static" is not selected.
    LaunchOptions changed = options.with(Arrays.asList("dynamic", "static"), 1, 2);
    assertEquals("static", changed.reference);
    assertEquals(2, changed.threads);
  }

  @Test
  public void badExtrasNameTheExtraAndWhatItTakes() {
    String[][] bad = {{"models", "dynamic,bogus"}, {"images", "4"}, {"images", "0"},
        {"threads", "two"}, {"threads", "9"}, {"repeats", "0"}, {"autostart", "maybe"},
        {"reference", "dynamic_int8"}};
    String[] expected = {"no model \"bogus\"", "expected 1 to 3", "expected 1 to 3",
        "expected an integer", "expected 1 to 8", "expected 1 to 1000", "true or false",
        "not among the models"};
    for (int i = 0; i < bad.length; i++) {
      Map<String, String> map = extras(bad[i]);
      if (bad[i][0].equals("reference")) {
        map.put("models", "dynamic,static");
      }
      IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
          () -> LaunchOptions.parse(map, ManifestTest.sample()));
      assertTrue(error.getMessage(), error.getMessage().startsWith("Invalid extra " + bad[i][0]));
      assertTrue(error.getMessage(), error.getMessage().contains(expected[i]));
    }
  }

  @Test
  public void theBudgetExtraAddsKnobRows() {
    LaunchOptions none = LaunchOptions.defaults(ManifestTest.sample());
    assertFalse(none.hasBudget());
    assertTrue(Double.isNaN(none.budget));
    LaunchOptions options = LaunchOptions.parse(extras("budget", " 0.35 "), ManifestTest.sample());
    assertTrue(options.hasBudget());
    assertEquals(0.35, options.budget, 0.0);
    assertEquals(0.35, options.with(Arrays.asList("static"), 1, 1).budget, 0.0);
    assertTrue(Double.isNaN(options.with(Arrays.asList("static"), 1, 1, Double.NaN).budget));
    for (String bad : new String[] {"abc", "0", "-0.3", "NaN", "Infinity", "10.5"}) {
      String message = assertThrows(IllegalArgumentException.class,
          () -> LaunchOptions.parse(extras("budget", bad), ManifestTest.sample())).getMessage();
      assertEquals("Invalid extra budget: expected a number in (0, 10.0] (a fraction of the knob "
          + "file's reference FLOPs). Received: " + bad, message);
    }
  }
}
