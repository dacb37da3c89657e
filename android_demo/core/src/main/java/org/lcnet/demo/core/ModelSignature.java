package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A model's "serve" signature after {@link ModelContract#check}: what the app must allocate and
 * set.
 */
public final class ModelSignature {
  /** The file the signature was read from (for messages). */
  public final String file;
  /** The {@code image} input: (1, H, W, 3), float32 or uint8. */
  public final TensorSpec image;
  /** True if the file has the {@code force_gates_open} input (a benchmark export). */
  public final boolean hasForceInput;
  public final int numClasses;
  public final int numBlocks;

  ModelSignature(String file, TensorSpec image, boolean hasForceInput, int numClasses,
      int numBlocks) {
    this.file = file;
    this.image = image;
    this.hasForceInput = hasForceInput;
    this.numClasses = numClasses;
    this.numBlocks = numBlocks;
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
   * Every input the app sets before each run, in this order. {@code force_gates_open}, when the
   * file has it, is set to {@link ModelContract#FORCE_GATES_OFF}: an input left unset holds
   * whatever memory it got, and the gates would be forced open at random.
   */
  public List<String> inputsToSet() {
    List<String> names = new ArrayList<>();
    names.add(ModelContract.IMAGE_INPUT);
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
