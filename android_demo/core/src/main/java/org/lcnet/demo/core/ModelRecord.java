package org.lcnet.demo.core;

/**
 * What one model did on each benchmark image: Python's {@code per_image[name]} of
 * {@code lcnet_tf.export.benchmark.compare_models}.
 */
public final class ModelRecord {
  public final String name;
  /** Per image: the median over repeats of the invoke time, in milliseconds. */
  public final double[] latencyMs;
  /** Per image: the model's {@code realized_flops} output (float32, widened). */
  public final double[] flops;
  public final boolean[] correct;
  public final int[] prediction;
  /** Per image: the model's {@code gate} output (float32). */
  public final float[][] gate;

  public ModelRecord(String name, int numImages, int numBlocks) {
    this.name = name;
    latencyMs = new double[numImages];
    flops = new double[numImages];
    correct = new boolean[numImages];
    prediction = new int[numImages];
    gate = new float[numImages][numBlocks];
  }

  public int numImages() {
    return latencyMs.length;
  }

  /** Number of blocks that ran on image {@code index}. */
  public int blocksRun(int index) {
    int count = 0;
    for (float value : gate[index]) {
      count += value > 0.5f ? 1 : 0;
    }
    return count;
  }
}
