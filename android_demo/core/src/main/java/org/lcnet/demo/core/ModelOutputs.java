package org.lcnet.demo.core;

/** The outputs of one run, in arrays allocated once per model and reused. */
public final class ModelOutputs {
  public final float[] logits;
  /** 1.0 if block b ran for this image, 0.0 if it was skipped. */
  public final float[] gate;
  /** Channel groups block b computed (0 for blocks without a channel gate). */
  public final float[] keptGroups;
  /** FLOPs this image executed (1 multiply-accumulate = 1 FLOP), as the model reports them. */
  public float realizedFlops;

  public ModelOutputs(int numClasses, int numBlocks) {
    logits = new float[numClasses];
    gate = new float[numBlocks];
    keptGroups = new float[numBlocks];
  }

  public static ModelOutputs of(ModelSignature signature) {
    return new ModelOutputs(signature.numClasses, signature.numBlocks);
  }

  /** The predicted class ({@code np.argmax(logits)}). */
  public int prediction() {
    return Stats.argmax(logits);
  }
}
