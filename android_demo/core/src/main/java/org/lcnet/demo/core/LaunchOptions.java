package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Benchmark settings from launch extras (as the TFLite benchmark app takes them), so that a run
 * needs no touch:
 *
 * <pre>
 * adb shell am start -n org.lcnet.demo/.MainActivity --es models dynamic,static \
 *     --ei images 500 --ei threads 1 --ei repeats 3 --ez autostart true
 * </pre>
 *
 * {@code --es budget 0.35} also runs every selected knob file at that budget ({@link RunPlan};
 * checked against the files' tables when they are opened). Every extra is optional; values
 * arrive as strings (the app passes {@code String.valueOf} of each extra), so {@code --es threads
 * 2} and {@code --ei threads 2} both work.
 */
public final class LaunchOptions {
  public static final List<String> KEYS = Collections.unmodifiableList(Arrays.asList(
      "models", "images", "threads", "repeats", "chunk", "xnnpack", "autostart", "reference",
      "budget"));
  public static final List<Integer> THREAD_CHOICES =
      Collections.unmodifiableList(Arrays.asList(1, 2, 4));
  public static final int MAX_THREADS = 8;
  public static final int DEFAULT_CHUNK = 50;
  /** The largest budget extra: 1 = the reference's FLOPs (a wider network may need more). */
  public static final double MAX_BUDGET = 10.0;

  public final List<String> models;
  public final int images;
  public final int threads;
  public final int repeats;
  public final int chunk;
  public final boolean xnnpack;
  public final boolean autostart;
  public final String reference;
  /** The knob files' budget (a fraction of their reference FLOPs); NaN: no knob rows. */
  public final double budget;

  private LaunchOptions(List<String> models, int images, int threads, int repeats, int chunk,
      boolean xnnpack, boolean autostart, String reference, double budget) {
    this.models = Collections.unmodifiableList(models);
    this.images = images;
    this.threads = threads;
    this.repeats = repeats;
    this.chunk = chunk;
    this.xnnpack = xnnpack;
    this.autostart = autostart;
    this.reference = reference;
    this.budget = budget;
  }

  /** The defaults: every model, every image, 1 thread, 1 repeat, chunks of 50, XNNPACK on. */
  public static LaunchOptions defaults(Manifest manifest) {
    try {
      return parse(Collections.<String, String>emptyMap(), manifest);
    } catch (IllegalArgumentException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Parses the extras; unknown keys are ignored (Android adds its own).
   *
   * @throws IllegalArgumentException naming the extra and what it accepts
   */
  public static LaunchOptions parse(Map<String, String> extras, Manifest manifest) {
    List<String> available = manifest.modelNames();
    List<String> models = new ArrayList<>();
    String modelList = extras.get("models");
    if (modelList == null || modelList.trim().isEmpty()) {
      models.addAll(available);
    } else {
      for (String name : modelList.split(",")) {
        name = name.trim();
        if (name.isEmpty()) {
          continue;
        }
        if (!available.contains(name)) {
          throw new IllegalArgumentException("Invalid extra models: no model \"" + name
              + "\" in the assets (they hold " + available + ").");
        }
        if (!models.contains(name)) {
          models.add(name);
        }
      }
      if (models.isEmpty()) {
        throw new IllegalArgumentException("Invalid extra models: no model named.");
      }
    }
    int images = intExtra(extras, "images", manifest.imageCount, 1, manifest.imageCount);
    int threads = intExtra(extras, "threads", 1, 1, MAX_THREADS);
    int repeats = intExtra(extras, "repeats", 1, 1, 1000);
    int chunk = intExtra(extras, "chunk", DEFAULT_CHUNK, 1, Integer.MAX_VALUE);
    boolean xnnpack = booleanExtra(extras, "xnnpack", true);
    boolean autostart = booleanExtra(extras, "autostart", false);
    String reference = extras.get("reference");
    if (reference == null) {
      reference = models.contains(manifest.reference) ? manifest.reference
          : Benchmark.defaultReference(models);
    } else if (!models.contains(reference)) {
      throw new IllegalArgumentException("Invalid extra reference: \"" + reference
          + "\" is not among the models " + models + ".");
    }
    double budget = budgetExtra(extras);
    return new LaunchOptions(models, images, threads, repeats, chunk, xnnpack, autostart,
        reference, budget);
  }

  /** The same options with another model selection, image count or thread count (the UI). */
  public LaunchOptions with(List<String> models, int images, int threads) {
    return with(models, images, threads, budget);
  }

  /** ... and another budget (the slider's; NaN: no knob rows). */
  public LaunchOptions with(List<String> models, int images, int threads, double budget) {
    String ref = models.contains(reference) ? reference : Benchmark.defaultReference(models);
    return new LaunchOptions(new ArrayList<>(models), images, threads, repeats, chunk, xnnpack,
        autostart, ref, budget);
  }

  /** Whether knob rows run ({@link #budget} is set). */
  public boolean hasBudget() {
    return !Double.isNaN(budget);
  }

  private static double budgetExtra(Map<String, String> extras) {
    String text = extras.get("budget");
    if (text == null || text.trim().isEmpty()) {
      return Double.NaN;
    }
    double value;
    try {
      value = Double.parseDouble(text.trim());
    } catch (NumberFormatException e) {
      value = Double.NaN;
    }
    if (!(value > 0 && value <= MAX_BUDGET)) {
      throw new IllegalArgumentException("Invalid extra budget: expected a number in (0, "
          + MAX_BUDGET + "] (a fraction of the knob file's reference FLOPs). Received: " + text);
    }
    return value;
  }

  private static int intExtra(Map<String, String> extras, String key, int fallback, int min,
      int max) {
    String text = extras.get(key);
    if (text == null) {
      return fallback;
    }
    int value;
    try {
      value = Integer.parseInt(text.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("Invalid extra " + key + ": expected an integer. "
          + "Received: " + text);
    }
    if (value < min || value > max) {
      throw new IllegalArgumentException("Invalid extra " + key + ": expected " + min + " to "
          + max + ". Received: " + value);
    }
    return value;
  }

  private static boolean booleanExtra(Map<String, String> extras, String key, boolean fallback) {
    String text = extras.get(key);
    if (text == null) {
      return fallback;
    }
    switch (text.trim().toLowerCase(java.util.Locale.ROOT)) {
      case "true":
      case "1":
      case "yes":
        return true;
      case "false":
      case "0":
      case "no":
        return false;
      default:
        throw new IllegalArgumentException("Invalid extra " + key + ": expected true or false. "
            + "Received: " + text);
    }
  }
}
