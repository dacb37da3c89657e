package org.lcnet.demo.core;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Replays a golden file of tests/android_demo/android_golden.py through this core and lists every
 * difference from what Python computed.
 *
 * <p>Python ran {@code compare_models} on scripted runners; here the same scripts run through
 * {@link Benchmark} and {@link Summary}. Compared: the call order (trace), per-image latency and
 * correctness, every summary number, the same-precision rows, and the table text (exactly).
 * Numbers must agree to 1e-9 (relative above 1); only the least-squares fit is not bit-exact.
 *
 * <pre>java -cp ... org.lcnet.demo.core.GoldenCheck golden.json   # exit 1 on a difference</pre>
 */
public final class GoldenCheck {
  public static final double TOLERANCE = 1e-9;
  private static final Gson GSON = new Gson();

  private GoldenCheck() {}

  public static void main(String[] args) throws Exception {
    List<String> problems = checkFile(args[0]);
    for (String problem : problems) {
      System.out.println("MISMATCH " + problem);
    }
    System.out.println(problems.isEmpty() ? "GOLDEN OK" : "GOLDEN FAILED");
    System.exit(problems.isEmpty() ? 0 : 1);
  }

  /** Every difference between the file's expectations and this core; empty when they agree. */
  public static List<String> checkFile(String path) throws IOException {
    String text = new String(Files.readAllBytes(Paths.get(path)), StandardCharsets.UTF_8);
    JsonArray cases = JsonParser.parseString(text).getAsJsonObject().getAsJsonArray("cases");
    List<String> problems = new ArrayList<>();
    if (cases.isEmpty()) {
      problems.add("no cases in " + path);
    }
    for (JsonElement item : cases) {
      JsonObject goldenCase = item.getAsJsonObject();
      try {
        problems.addAll(checkCase(goldenCase));
      } catch (Exception e) {
        problems.add(goldenCase.get("name") + ": " + e);
      }
    }
    return problems;
  }

  static List<String> checkCase(JsonObject goldenCase) throws Exception {
    String name = goldenCase.get("name").getAsString();
    JsonObject settings = goldenCase.getAsJsonObject("settings");
    int numImages = settings.get("num_images").getAsInt();
    int repeats = settings.get("repeats").getAsInt();
    int chunk = settings.get("chunk").getAsInt();
    String reference = settings.get("reference").getAsString();
    int[] shape = GSON.fromJson(settings.get("image_shape"), int[].class);
    int[] labels = GSON.fromJson(goldenCase.get("labels"), int[].class);
    ImageSet images = imageSet(labels, shape);

    FakeClock clock = new FakeClock();
    List<String> trace = new ArrayList<>();
    Map<String, ScriptedRunner> runners = new LinkedHashMap<>();
    for (Map.Entry<String, JsonElement> entry :
        goldenCase.getAsJsonObject("scripts").entrySet()) {
      runners.put(entry.getKey(), new ScriptedRunner(entry.getKey(),
          entry.getValue().getAsJsonObject(), shape, clock, trace));
    }
    List<String> names = new ArrayList<>(runners.keySet());
    List<String> problems = new ArrayList<>();
    if (!Benchmark.defaultReference(names).equals(reference)) {
      problems.add(name + ": reference " + Benchmark.defaultReference(names) + " != Python's "
          + reference);
    }
    Map<String, ModelRecord> records =
        new Benchmark(repeats, chunk, clock).run(runners, images, numImages, null, null);
    Summary summary = Summary.compute(records, reference);

    JsonObject expected = goldenCase.getAsJsonObject("expected");
    List<String> expectedTrace = new ArrayList<>();
    for (JsonElement call : expected.getAsJsonArray("trace")) {
      JsonArray pair = call.getAsJsonArray();
      expectedTrace.add(pair.get(0).getAsString() + ":" + pair.get(1).getAsInt());
    }
    if (!expectedTrace.equals(trace)) {
      problems.add(name + ": call order differs; first difference at call "
          + firstDifference(expectedTrace, trace) + " (Python " + expectedTrace.size()
          + " calls, Java " + trace.size() + ")");
    }
    for (Map.Entry<String, JsonElement> entry :
        expected.getAsJsonObject("per_image").entrySet()) {
      JsonObject python = entry.getValue().getAsJsonObject();
      ModelRecord record = records.get(entry.getKey());
      double[] latency = GSON.fromJson(python.get("latency_ms"), double[].class);
      boolean[] correct = GSON.fromJson(python.get("correct"), boolean[].class);
      for (int i = 0; i < latency.length; i++) {
        compare(problems, name + "/" + entry.getKey() + "/latency_ms[" + i + "]", latency[i],
            record.latencyMs[i]);
        if (correct[i] != record.correct[i]) {
          problems.add(name + "/" + entry.getKey() + "/correct[" + i + "] differs");
        }
      }
    }
    compareTree(problems, name + "/summary", expected.get("summary"), Report.summaryJson(summary));
    compareTree(problems, name + "/same_precision", expected.get("same_precision"),
        Report.samePrecisionJson(summary));
    String table = Report.table(summary);
    String expectedTable = expected.get("table").getAsString();
    if (!expectedTable.equals(table)) {
      problems.add(name + ": table text differs.\nPython:\n" + expectedTable + "\nJava:\n" + table);
    }
    return problems;
  }

  /**
   * Compares Python's JSON tree with Java's, key by key. Keys only Python has are reported,
   * except {@code num_if_ops} (read from the flatbuffer in Python; the app takes it from the
   * manifest).
   */
  static void compareTree(List<String> problems, String path, JsonElement python, Object java) {
    boolean pythonNull = python == null || python.isJsonNull();
    if (pythonNull || java == null) {
      if (pythonNull != (java == null)) {
        problems.add(path + ": Python " + python + ", Java " + java);
      }
    } else if (python.isJsonObject()) {
      if (!(java instanceof Map)) {
        problems.add(path + ": Java has no object");
        return;
      }
      JsonObject pythonMap = python.getAsJsonObject();
      Map<?, ?> javaMap = (Map<?, ?>) java;
      for (Map.Entry<String, JsonElement> entry : pythonMap.entrySet()) {
        if (entry.getKey().equals("num_if_ops")) {
          continue;
        }
        if (!javaMap.containsKey(entry.getKey())) {
          problems.add(path + "/" + entry.getKey() + ": missing in Java");
          continue;
        }
        compareTree(problems, path + "/" + entry.getKey(), entry.getValue(),
            javaMap.get(entry.getKey()));
      }
      for (Object key : javaMap.keySet()) {
        if (!pythonMap.has(String.valueOf(key))) {
          problems.add(path + "/" + key + ": only in Java");
        }
      }
    } else if (python.isJsonArray()) {
      JsonArray pythonList = python.getAsJsonArray();
      List<?> javaList = (List<?>) java;
      if (pythonList.size() != javaList.size()) {
        problems.add(path + ": length " + pythonList.size() + " vs " + javaList.size());
        return;
      }
      for (int i = 0; i < pythonList.size(); i++) {
        compareTree(problems, path + "[" + i + "]", pythonList.get(i), javaList.get(i));
      }
    } else if (python.getAsJsonPrimitive().isNumber()) {
      compare(problems, path, python.getAsDouble(), ((Number) java).doubleValue());
    } else if (!python.getAsString().equals(String.valueOf(java))) {
      problems.add(path + ": Python " + python + ", Java " + java);
    }
  }

  static void compare(List<String> problems, String path, double python, double java) {
    double scale = Math.max(1.0, Math.max(Math.abs(python), Math.abs(java)));
    if (!(Math.abs(python - java) <= TOLERANCE * scale) && !(python == java)) {
      problems.add(path + ": Python " + python + ", Java " + java + " (difference "
          + (java - python) + ")");
    }
  }

  private static int firstDifference(List<String> a, List<String> b) {
    int n = Math.min(a.size(), b.size());
    for (int i = 0; i < n; i++) {
      if (!a.get(i).equals(b.get(i))) {
        return i;
      }
    }
    return n;
  }

  /** An image set whose image i has i in its first pixel (as the Python side scripts it). */
  static ImageSet imageSet(int[] labels, int[] shape) throws IOException {
    int imageBytes = shape[0] * shape[1] * shape[2];
    ByteBuffer data = ByteBuffer.allocate(ImageSet.HEADER_BYTES + 4 * labels.length
        + labels.length * imageBytes).order(ByteOrder.LITTLE_ENDIAN);
    data.put(ImageSet.MAGIC).putInt(ImageSet.VERSION).putInt(labels.length).putInt(shape[0])
        .putInt(shape[1]).putInt(shape[2]);
    for (int label : labels) {
      data.putInt(label);
    }
    for (int i = 0; i < labels.length; i++) {
      byte[] pixels = new byte[imageBytes];
      pixels[0] = (byte) i;
      data.put(pixels);
    }
    return ImageSet.fromBytes(data.array());
  }

  static ImageSet imageSetUnchecked(int[] labels, int[] shape) {
    try {
      return imageSet(labels, shape);
    } catch (IOException e) {
      throw new AssertionError(e);
    }
  }

  /** A clock that only moves when a scripted invoke says so. */
  static final class FakeClock implements Clock {
    long now = 1_000_000L;

    @Override
    public long nanoTime() {
      return now;
    }
  }

  /** Replays one model's script: each invoke lasts the next scripted duration. */
  static final class ScriptedRunner implements ModelRunner {
    private final String name;
    private final FakeClock clock;
    private final List<String> trace;
    private final double[] callNs;
    private final double[] flops;
    private final double[][] logits;
    private final double[][] gate;
    private final ModelSignature signature;
    private int position;
    private int image = -1;

    ScriptedRunner(String name, JsonObject script, int[] shape, FakeClock clock,
        List<String> trace) throws ContractException {
      this.name = name;
      this.clock = clock;
      this.trace = trace;
      callNs = GSON.fromJson(script.get("call_ns"), double[].class);
      flops = GSON.fromJson(script.get("flops"), double[].class);
      logits = GSON.fromJson(script.get("logits"), double[][].class);
      gate = GSON.fromJson(script.get("gate"), double[][].class);
      signature = TestModels.signature(name + ".tflite", shape[0], shape[1], logits[0].length,
          gate[0].length, false);
    }

    @Override
    public ModelSignature signature() {
      return signature;
    }

    @Override
    public void setImage(ImageSet images, int index) {
      image = index;
    }

    @Override
    public void invoke() {
      trace.add(name + ":" + image);
      clock.now += (long) callNs[position++];
    }

    @Override
    public void readOutputs(ModelOutputs outputs) {
      double[] row = logits[image];
      for (int i = 0; i < row.length; i++) {
        outputs.logits[i] = (float) row[i];
      }
      double[] gates = gate[image];
      for (int b = 0; b < gates.length; b++) {
        outputs.gate[b] = (float) gates[b];
        outputs.keptGroups[b] = 0f;
      }
      outputs.realizedFlops = (float) flops[image];
    }

    @Override
    public void close() {}
  }
}
