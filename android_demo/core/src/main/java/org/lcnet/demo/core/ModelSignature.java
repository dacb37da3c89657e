package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;

/**
 * A checked signature ({@link ModelContract#check} for "serve", {@link ModelContract#checkKnob}
 * for a knob file's "serve_budget"): what the app must allocate and set.
 */
public final class ModelSignature {
  /** The file the signature was read from (for messages). */
  public final String file;
  /** The signature the app runs: "serve", or "serve_budget" for a knob run. */
  public final String key;
  /** The {@code image} input: (1, H, W, 3), float32 or uint8. */
  public final TensorSpec image;
  /** True if the file has the {@code force_gates_open} input (a benchmark export). */
  public final boolean hasForceInput;
  /** The {@code decisions} input (D,) float32 of "serve_budget"; null for "serve". */
  public final TensorSpec decisions;
  public final int numClasses;
  public final int numBlocks;

  ModelSignature(String file, String key, TensorSpec image, boolean hasForceInput,
      TensorSpec decisions, int numClasses, int numBlocks) {
    this.file = file;
    this.key = key;
    this.image = image;
    this.hasForceInput = hasForceInput;
    this.decisions = decisions;
    this.numClasses = numClasses;
    this.numBlocks = numBlocks;
  }

  /** Whether this is a knob file's "serve_budget" signature (it takes {@code decisions}). */
  public boolean takesDecisions() {
    return decisions != null;
  }

  /** D, the length of the {@code decisions} input; 0 for "serve". */
  public int numDecisions() {
    return decisions == null ? 0 : decisions.numElements();
  }

  /**
   * Checks the values a runner will copy into {@code decisions} on every run.
   *
   * @return {@code values}
   * @throws IllegalArgumentException this signature takes no decisions, or not {@link
   *     #numDecisions} finite values
   */
  public float[] checkDecisions(float[] values) {
    if (decisions == null) {
      throw new IllegalArgumentException("Invalid value for decisions: " + file + "'s \"" + key
          + "\" signature takes none (run a knob file's \"" + ModelContract.KNOB_SIGNATURE_KEY
          + "\" signature).");
    }
    boolean finite = values != null;
    for (int i = 0; finite && i < values.length; i++) {
      finite = Float.isFinite(values[i]);
    }
    if (!finite || values.length != numDecisions()) {
      throw new IllegalArgumentException("Invalid value for decisions: expected "
          + numDecisions() + " finite float32 values for " + file + ". Received: "
          + Arrays.toString(values));
    }
    return values;
  }

  public int height() {
    return image.dim(1);
  }

  public int width() {
    return image.dim(2);
  }

  public int channels() {
    return image.dim(3);
  }

  /**
   * Every input the app sets before each run, in this order: the image, the decisions of
   * "serve_budget" (a {@link BudgetKnob.Setting}), and {@code force_gates_open} when the file
   * has it, set to {@link ModelContract#FORCE_GATES_OFF}: an input left unset holds whatever
   * memory it got, and the gates would be forced open at random.
   */
  public List<String> inputsToSet() {
    List<String> names = new ArrayList<>();
    names.add(ModelContract.IMAGE_INPUT);
    if (decisions != null) {
      names.add(ModelContract.DECISIONS_INPUT);
    }
    if (hasForceInput) {
      names.add(ModelContract.FORCE_INPUT);
    }
    return Collections.unmodifiableList(names);
  }

  /** Throws unless the images have this model's height, width and channels. */
  public void checkImages(ImageSet images) throws ContractException {
    if (images.height != height() || images.width != width() || images.channels != channels()) {
      throw new ContractException(file + ": the model takes " + height() + "x" + width() + "x"
          + channels() + " images, the image set holds " + images.height + "x" + images.width
          + "x" + images.channels + ".");
    }
  }
}
