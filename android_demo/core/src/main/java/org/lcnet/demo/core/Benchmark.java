package org.lcnet.demo.core;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The benchmark protocol of {@code lcnet_tf.export.benchmark.compare_models}, step for step.
 *
 * <ol>
 *   <li>Warm-up: each model runs the first {@value #WARMUP_IMAGES} images, untimed
 *       (allocations, XNNPACK weight packing).
 *   <li>Images go in chunks of {@code chunk}. For each chunk, each model in turn runs the chunk's
 *       first image once untimed (its caches warm again), then every image of the chunk {@code
 *       repeats} times; the image's latency is the median of those invokes. Load on the device
 *       then hits the models alike, while each model runs with warm caches as in an app.
 *   <li>FLOPs, correctness and gate decisions come from the model's own outputs ({@code
 *       realized_flops}, {@code logits}, {@code gate}) of the image's last run.
 * </ol>
 *
 * <p>tests/android_demo runs Python's {@code compare_models} and this class on the same scripted
 * runners and checks that both make the same calls in the same order and report the same numbers.
 */
public final class Benchmark {
  public static final int WARMUP_IMAGES = 5;

  /** Called after every chunk, on the benchmark's thread. */
  public interface Listener {
    void onProgress(int imagesDone, int numImages);
  }

  /** Thrown when the cancel flag was set; the partial results are dropped. */
  public static final class CancelledException extends Exception {
    private static final long serialVersionUID = 1L;

    public CancelledException() {
      super("Benchmark cancelled");
    }
  }

  private final int repeats;
  private final int chunk;
  private final Clock clock;

  /**
   * @param repeats invokes per image and model (median taken), >= 1
   * @param chunk images per interleaving chunk, >= 1 (1 = alternate models on every image)
   * @param clock {@link Clock#SYSTEM} on a device
   */
  public Benchmark(int repeats, int chunk, Clock clock) {
    if (repeats < 1) {
      throw new IllegalArgumentException("Invalid value for repeats: expected >= 1. Received: "
          + repeats);
    }
    if (chunk < 1) {
      throw new IllegalArgumentException("Invalid value for chunk: expected >= 1. Received: "
          + chunk);
    }
    this.repeats = repeats;
    this.chunk = chunk;
    this.clock = clock;
  }

  /**
   * Runs every model on the first {@code numImages} images.
   *
   * @param runners models by name, in display order
   * @param listener progress callback or null
   * @param cancel checked between images; null for none
   * @return per-image records by name, in the order of {@code runners}
   */
  public Map<String, ModelRecord> run(Map<String, ? extends ModelRunner> runners, ImageSet images,
      int numImages, Listener listener, AtomicBoolean cancel)
      throws CancelledException, ContractException {
    if (runners.isEmpty()) {
      throw new IllegalArgumentException("Invalid value for runners: expected at least one model.");
    }
    if (numImages < 1 || numImages > images.count) {
      throw new IllegalArgumentException("Invalid value for numImages: expected 1 to "
          + images.count + ". Received: " + numImages);
    }
    Map<String, ModelRecord> records = new LinkedHashMap<>();
    Map<String, ModelOutputs> outputs = new LinkedHashMap<>();
    for (Map.Entry<String, ? extends ModelRunner> entry : runners.entrySet()) {
      ModelSignature signature = entry.getValue().signature();
      signature.checkImages(images);
      records.put(entry.getKey(), new ModelRecord(entry.getKey(), numImages, signature.numBlocks));
      outputs.put(entry.getKey(), ModelOutputs.of(signature));
    }
    for (ModelRunner runner : runners.values()) {
      for (int index = 0; index < Math.min(WARMUP_IMAGES, numImages); index++) {
        timeOnce(runner, images, index);
      }
    }
    double[] seconds = new double[repeats];
    for (int start = 0; start < numImages; start += chunk) {
      int stop = Math.min(start + chunk, numImages);
      for (Map.Entry<String, ? extends ModelRunner> entry : runners.entrySet()) {
        ModelRunner runner = entry.getValue();
        ModelRecord record = records.get(entry.getKey());
        ModelOutputs out = outputs.get(entry.getKey());
        timeOnce(runner, images, start);  // Untimed: this model's caches warm again.
        for (int index = start; index < stop; index++) {
          if (cancel != null && cancel.get()) {
            throw new CancelledException();
          }
          for (int r = 0; r < repeats; r++) {
            // Python keeps perf_counter seconds and reports 1000 * median: same arithmetic here.
            seconds[r] = timeOnce(runner, images, index) / 1e9;
          }
          runner.readOutputs(out);
          record.latencyMs[index] = 1000.0 * Stats.median(seconds);
          record.flops[index] = out.realizedFlops;
          record.prediction[index] = out.prediction();
          record.correct[index] = record.prediction[index] == images.label(index);
          System.arraycopy(out.gate, 0, record.gate[index], 0, out.gate.length);
        }
      }
      if (listener != null) {
        listener.onProgress(stop, numImages);
      }
    }
    return records;
  }

  private long timeOnce(ModelRunner runner, ImageSet images, int index) {
    runner.setImage(images, index);
    long start = clock.nanoTime();
    runner.invoke();
    return clock.nanoTime() - start;
  }

  /**
   * The row the others are compared with, as Python picks it: "static" if present, else the
   * first other "static_*" row, else the first model.
   */
  public static String defaultReference(List<String> names) {
    if (names.isEmpty()) {
      throw new IllegalArgumentException("No models.");
    }
    if (names.contains("static")) {
      return "static";
    }
    for (String name : names) {
      if (name.startsWith("static_")) {
        return name;
      }
    }
    return names.get(0);
  }
}
