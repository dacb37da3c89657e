package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The TFLite signature of exported lcnet-tf models (docs/tflite_signature.md), as an app sees it.
 *
 * <p>Python's side of the contract is {@code lcnet_tf.export.tflite_export} ({@code
 * SIGNATURE_KEY}, {@code IMAGE_INPUT}, {@code FORCE_INPUT}, {@code OUTPUT_NAMES});
 * tests/android_demo reads a freshly exported model's signature in Python and checks it here.
 */
public final class ModelContract {
  /** The signature an app calls ({@code Interpreter.runSignature(inputs, outputs, "serve")}). */
  public static final String SIGNATURE_KEY = "serve";
  /** (1, H, W, 3) RGB pixels 0-255, float32 or uint8, not normalised. */
  public static final String IMAGE_INPUT = "image";
  /** (1,) float32, only in files exported with {@code force_input=True}. */
  public static final String FORCE_INPUT = "force_gates_open";
  /** The value an app sets {@link #FORCE_INPUT} to: the gates decide. */
  public static final float FORCE_GATES_OFF = 0.0f;
  /**
   * The second signature of a knob file ({@link BudgetKnob}): the inputs of {@link
   * #SIGNATURE_KEY} plus {@link #DECISIONS_INPUT}; the same outputs.
   */
  public static final String KNOB_SIGNATURE_KEY = "serve_budget";
  /** (D,) float32: the decision values of a budget ({@link BudgetKnob.Setting#decisions}). */
  public static final String DECISIONS_INPUT = "decisions";

  public static final String LOGITS = "logits";
  public static final String GATE = "gate";
  public static final String KEPT_GROUPS = "kept_groups";
  public static final String REALIZED_FLOPS = "realized_flops";
  /** Output names in the order of Python's {@code OUTPUT_NAMES}. */
  public static final List<String> OUTPUT_NAMES =
      Collections.unmodifiableList(Arrays.asList(LOGITS, GATE, KEPT_GROUPS, REALIZED_FLOPS));
  /** Dtypes the {@link #IMAGE_INPUT} may have. */
  public static final List<String> IMAGE_DTYPES =
      Collections.unmodifiableList(Arrays.asList("float32", "uint8"));

  private ModelContract() {}

  /**
   * Checks a model's "serve" signature against the contract.
   *
   * @param file the model's file name (named in every message)
   * @param signatureKeys {@code Interpreter.getSignatureKeys()}
   * @param inputs the "serve" signature's inputs by name
   * @param outputs the "serve" signature's outputs by name
   * @return what the app allocates and sets
   * @throws ContractException naming the file and what is wrong
   */
  public static ModelSignature check(String file, List<String> signatureKeys,
      Map<String, TensorSpec> inputs, Map<String, TensorSpec> outputs) throws ContractException {
    return checkSignature(file, SIGNATURE_KEY, signatureKeys, inputs, outputs, null);
  }

  /**
   * Checks the "serve_budget" signature of a knob file: the inputs of "serve" plus {@code
   * decisions}, float32 of shape (D,) with D the table's number of decision values, and the
   * outputs of "serve".
   *
   * @param file the model's file name (named in every message)
   * @param signatureKeys {@code Interpreter.getSignatureKeys()}
   * @param inputs the "serve_budget" signature's inputs by name
   * @param outputs the "serve_budget" signature's outputs by name
   * @param knob the file's table ({@link BudgetKnob#find})
   * @return what the app allocates and sets ({@link ModelSignature#key} "serve_budget")
   * @throws ContractException naming the file and what is wrong
   */
  public static ModelSignature checkKnob(String file, List<String> signatureKeys,
      Map<String, TensorSpec> inputs, Map<String, TensorSpec> outputs, BudgetKnob knob)
      throws ContractException {
    return checkSignature(file, KNOB_SIGNATURE_KEY, signatureKeys, inputs, outputs, knob);
  }

  private static ModelSignature checkSignature(String file, String key,
      List<String> signatureKeys, Map<String, TensorSpec> inputs, Map<String, TensorSpec> outputs,
      BudgetKnob knob) throws ContractException {
    if (!signatureKeys.contains(key)) {
      throw new ContractException(file + ": no \"" + key + "\" signature (found "
          + signatureKeys + "); export it with lcnet_tf.export.to_tflite"
          + (knob == null ? "" : "(..., budget_table=...)") + ".");
    }
    List<String> known = knob == null ? Arrays.asList(IMAGE_INPUT, FORCE_INPUT)
        : Arrays.asList(IMAGE_INPUT, DECISIONS_INPUT, FORCE_INPUT);
    List<String> unknown = new ArrayList<>();
    for (String name : inputs.keySet()) {
      if (!known.contains(name)) {
        unknown.add(name);
      }
    }
    if (!unknown.isEmpty()) {
      throw new ContractException(file + ": unknown inputs " + unknown + " of \"" + key
          + "\" (the app sets only " + String.join(", ", known) + ", and never leaves an input "
          + "unset).");
    }
    TensorSpec image = inputs.get(IMAGE_INPUT);
    if (image == null) {
      throw new ContractException(file + ": no \"" + IMAGE_INPUT + "\" input (found "
          + inputs.keySet() + ").");
    }
    if (image.rank() != 4 || image.dim(0) != 1 || image.dim(3) != 3
        || !IMAGE_DTYPES.contains(image.dtype)) {
      throw new ContractException(file + ": input " + image + " is not a (1, H, W, 3) float32 "
          + "or uint8 image.");
    }
    TensorSpec force = inputs.get(FORCE_INPUT);
    if (force != null && (force.numElements() != 1 || !force.dtype.equals("float32"))) {
      throw new ContractException(file + ": input " + force + " is not a (1,) float32 flag.");
    }
    TensorSpec decisions = null;
    if (knob != null) {
      decisions = inputs.get(DECISIONS_INPUT);
      if (decisions == null) {
        throw new ContractException(file + ": no \"" + DECISIONS_INPUT + "\" input in \"" + key
            + "\" (found " + inputs.keySet() + ").");
      }
      if (decisions.rank() != 1 || decisions.dim(0) != knob.numDecisions()
          || !decisions.dtype.equals("float32")) {
        throw new ContractException(file + ": input " + decisions + " is not a ("
            + knob.numDecisions() + ",) float32 vector, one value per decision of the file's "
            + "table " + knob.decisionNames + ".");
      }
    }
    List<String> missing = new ArrayList<>();
    for (String name : OUTPUT_NAMES) {
      if (!outputs.containsKey(name)) {
        missing.add(name);
      }
    }
    if (!missing.isEmpty()) {
      throw new ContractException(file + ": missing outputs " + missing + " (found "
          + outputs.keySet() + ").");
    }
    for (String name : OUTPUT_NAMES) {
      TensorSpec spec = outputs.get(name);
      if (!spec.dtype.equals("float32")) {
        throw new ContractException(file + ": output " + spec + " is not float32.");
      }
    }
    TensorSpec logits = outputs.get(LOGITS);
    TensorSpec gate = outputs.get(GATE);
    TensorSpec kept = outputs.get(KEPT_GROUPS);
    TensorSpec flops = outputs.get(REALIZED_FLOPS);
    if (logits.rank() != 2 || logits.dim(0) != 1 || logits.dim(1) < 1) {
      throw new ContractException(file + ": output " + logits + " is not (1, classes).");
    }
    if (gate.rank() != 2 || gate.dim(0) != 1 || kept.rank() != 2 || kept.dim(0) != 1
        || kept.dim(1) != gate.dim(1)) {
      throw new ContractException(file + ": outputs " + gate + " and " + kept
          + " are not both (1, blocks).");
    }
    if (flops.numElements() != 1) {
      throw new ContractException(file + ": output " + flops + " is not (1,).");
    }
    return new ModelSignature(file, key, image, force != null, decisions, logits.dim(1),
        gate.dim(1));
  }
}
