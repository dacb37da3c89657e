package org.lcnet.demo.core;

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
    Map<String, Object> golden = Json.asObject(Json.parse(text), path);
    List<String> problems = new ArrayList<>();
    List<Object> cases = Json.asArray(golden.get("cases"), "cases");
    if (cases.isEmpty()) {
      problems.add("no cases in " + path);
    }
    for (Object item : cases) {
      Map<String, Object> goldenCase = Json.asObject(item, "case");
      try {
        problems.addAll(checkCase(goldenCase));
      } catch (Exception e) {
        problems.add(goldenCase.get("name") + ": " + e);
      }
    }
    return problems;
  }

  static List<String> checkCase(Map<String, Object> goldenCase) throws Exception {
    String name = Json.asString(goldenCase.get("name"), "name");
    Map<String, Object> settings = Json.asObject(goldenCase.get("settings"), "settings");
    int numImages = Json.asInt(settings.get("num_images"), "num_images");
    int repeats = Json.asInt(settings.get("repeats"), "repeats");
    int chunk = Json.asInt(settings.get("chunk"), "chunk");
    String reference = Json.asString(settings.get("reference"), "reference");
    int[] shape = Json.asIntArray(settings.get("image_shape"), "image_shape");
    int[] labels = Json.asIntArray(goldenCase.get("labels"), "labels");
    ImageSet images = imageSet(labels, shape);

    FakeClock clock = new FakeClock();
    List<String> trace = new ArrayList<>();
    Map<String, ScriptedRunner> runners = new LinkedHashMap<>();
    Map<String, Object> scripts = Json.asObject(goldenCase.get("scripts"), "scripts");
    for (Map.Entry<String, Object> entry : scripts.entrySet()) {
      runners.put(entry.getKey(), new ScriptedRunner(entry.getKey(),
          Json.asObject(entry.getValue(), entry.getKey()), shape, clock, trace));
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

    Map<String, Object> expected = Json.asObject(goldenCase.get("expected"), "expected");
    List<String> expectedTrace = new ArrayList<>();
    for (Object call : Json.asArray(expected.get("trace"), "trace")) {
      List<Object> pair = Json.asArray(call, "trace[]");
      expectedTrace.add(pair.get(0) + ":" + Json.asInt(pair.get(1), "trace index"));
    }
    if (!expectedTrace.equals(trace)) {
      problems.add(name + ": call order differs; first difference at call "
          + firstDifference(expectedTrace, trace) + " (Python " + expectedTrace.size()
          + " calls, Java " + trace.size() + ")");
    }
    Map<String, Object> perImage = Json.asObject(expected.get("per_image"), "per_image");
    for (Map.Entry<String, Object> entry : perImage.entrySet()) {
      Map<String, Object> python = Json.asObject(entry.getValue(), entry.getKey());
      ModelRecord record = records.get(entry.getKey());
      double[] latency = Json.asDoubleArray(python.get("latency_ms"), "latency_ms");
      List<Object> correct = Json.asArray(python.get("correct"), "correct");
      for (int i = 0; i < latency.length; i++) {
        compare(problems, name + "/" + entry.getKey() + "/latency_ms[" + i + "]", latency[i],
            record.latencyMs[i]);
        if (Json.asBoolean(correct.get(i), "correct") != record.correct[i]) {
          problems.add(name + "/" + entry.getKey() + "/correct[" + i + "] differs");
        }
      }
    }
    compareTree(problems, name + "/summary", expected.get("summary"), Report.summaryJson(summary));
    compareTree(problems, name + "/same_precision", expected.get("same_precision"),
        Report.samePrecisionJson(summary));
    String table = Report.table(summary);
    String expectedTable = Json.asString(expected.get("table"), "table");
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
  static void compareTree(List<String> problems, String path, Object python, Object java) {
    if (python == null || java == null) {
      if (python != java) {
        problems.add(path + ": Python " + python + ", Java " + java);
      }
    } else if (python instanceof Map) {
      Map<String, Object> pythonMap = Json.asObject(python, path);
      if (!(java instanceof Map)) {
        problems.add(path + ": Java has no object");
        return;
      }
      Map<String, Object> javaMap = Json.asObject(java, path);
      for (Map.Entry<String, Object> entry : pythonMap.entrySet()) {
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
      for (String key : javaMap.keySet()) {
        if (!pythonMap.containsKey(key)) {
          problems.add(path + "/" + key + ": only in Java");
        }
      }
    } else if (python instanceof List) {
      List<Object> pythonList = Json.asArray(python, path);
      List<Object> javaList = Json.asArray(java, path);
      if (pythonList.size() != javaList.size()) {
        problems.add(path + ": length " + pythonList.size() + " vs " + javaList.size());
        return;
      }
      for (int i = 0; i < pythonList.size(); i++) {
        compareTree(problems, path + "[" + i + "]", pythonList.get(i), javaList.get(i));
      }
    } else if (python instanceof Number) {
      compare(problems, path, ((Number) python).doubleValue(), ((Number) java).doubleValue());
    } else if (!python.equals(java)) {
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
    private final List<Object> logits;
    private final List<Object> gate;
    private final ModelSignature signature;
    private int position;
    private int image = -1;

    ScriptedRunner(String name, Map<String, Object> script, int[] shape, FakeClock clock,
        List<String> trace) throws ContractException {
      this.name = name;
      this.clock = clock;
      this.trace = trace;
      callNs = Json.asDoubleArray(script.get("call_ns"), "call_ns");
      flops = Json.asDoubleArray(script.get("flops"), "flops");
      logits = Json.asArray(script.get("logits"), "logits");
      gate = Json.asArray(script.get("gate"), "gate");
      int classes = Json.asArray(logits.get(0), "logits[0]").size();
      int blocks = Json.asArray(gate.get(0), "gate[0]").size();
      signature = TestModels.signature(name + ".tflite", shape[0], shape[1], classes, blocks,
          false);
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
      double[] row = Json.asDoubleArray(logits.get(image), "logits");
      for (int i = 0; i < row.length; i++) {
        outputs.logits[i] = (float) row[i];
      }
      double[] gates = Json.asDoubleArray(gate.get(image), "gate");
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
