package org.lcnet.demo.core;

/**
 * One model (one signature of one file), run one image at a time: what the app implements with
 * LiteRT's {@code Interpreter}.
 *
 * <p>The benchmark calls, for every run, {@link #setImage} (untimed), then {@link #invoke}
 * between two {@link Clock#nanoTime} readings, then {@link #readOutputs} (untimed). So the
 * timed part is {@code Interpreter.runSignature} alone, as {@code time.perf_counter} around
 * {@code interpreter.invoke()} is in Python. Buffers are allocated once, when the runner is made.
 */
public interface ModelRunner extends AutoCloseable {
  /** The checked signature (what {@link ModelContract#check} returned for this file). */
  ModelSignature signature();

  /**
   * Copies image {@code index} into the input buffer and sets every other input of {@link
   * ModelSignature#inputsToSet}: a knob run's {@code decisions} to its setting's values (the same
   * on every run), force_gates_open to {@link ModelContract#FORCE_GATES_OFF} when the file has it.
   */
  void setImage(ImageSet images, int index);

  /** Runs the model on the input set last ({@code runSignature}); this call alone is timed. */
  void invoke();

  /** Copies the last run's outputs into {@code outputs}. */
  void readOutputs(ModelOutputs outputs);

  @Override
  void close();
}
