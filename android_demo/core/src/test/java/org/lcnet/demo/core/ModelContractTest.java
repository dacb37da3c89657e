package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Test;

public class ModelContractTest {
  @Test
  public void namesAreThoseOfDocsTfliteSignature() {
    assertEquals("serve", ModelContract.SIGNATURE_KEY);
    assertEquals("image", ModelContract.IMAGE_INPUT);
    assertEquals("force_gates_open", ModelContract.FORCE_INPUT);
    assertEquals(Arrays.asList("logits", "gate", "kept_groups", "realized_flops"),
        ModelContract.OUTPUT_NAMES);
    assertEquals(0.0f, ModelContract.FORCE_GATES_OFF, 0f);
  }

  @Test
  public void aDeployedFileTakesTheImageOnly() throws ContractException {
    ModelSignature signature = TestModels.signature("d.tflite", 32, 32, 10, 9, false);
    assertFalse(signature.hasForceInput);
    assertEquals(Arrays.asList("image"), signature.inputsToSet());
    assertEquals(10, signature.numClasses);
    assertEquals(9, signature.numBlocks);
    assertEquals(32, signature.height());
  }

  @Test
  public void aBenchmarkExportHasItsForceInputSetEveryRun() throws ContractException {
    ModelSignature signature = TestModels.signature("f.tflite", 32, 32, 10, 9, true);
    assertTrue(signature.hasForceInput);
    assertEquals(Arrays.asList("image", "force_gates_open"), signature.inputsToSet());
  }

  @Test
  public void uint8ImagesAreAccepted() throws ContractException {
    ModelSignature signature = ModelContract.check("u.tflite", TestModels.keys(),
        TestModels.inputs(32, 32, "uint8", false), TestModels.outputs(10, 9));
    assertEquals("uint8", signature.image.dtype);
  }

  private static void assertRejected(String expected, Map<String, TensorSpec> inputs,
      Map<String, TensorSpec> outputs, java.util.List<String> keys) {
    ContractException error = assertThrows(ContractException.class,
        () -> ModelContract.check("m.tflite", keys, inputs, outputs));
    assertTrue(error.getMessage(), error.getMessage().startsWith("m.tflite: "));
    assertTrue(error.getMessage(), error.getMessage().contains(expected));
  }

  @Test
  public void everyBreachNamesTheFileAndTheProblem() {
    assertRejected("no \"serve\" signature", TestModels.inputs(32, 32, "float32", false),
        TestModels.outputs(10, 9), TestModels.list("serving_default"));
    Map<String, TensorSpec> extra = TestModels.inputs(32, 32, "float32", true);
    extra.put("temperature", new TensorSpec("temperature", "float32", new int[] {1}));
    assertRejected("unknown inputs [temperature]", extra, TestModels.outputs(10, 9),
        TestModels.keys());
    Map<String, TensorSpec> noImage = TestModels.inputs(32, 32, "float32", true);
    noImage.remove("image");
    assertRejected("no \"image\" input", noImage, TestModels.outputs(10, 9), TestModels.keys());
    assertRejected("not a (1, H, W, 3)", TestModels.inputs(32, 32, "int8", false),
        TestModels.outputs(10, 9), TestModels.keys());
    Map<String, TensorSpec> noFlops = TestModels.outputs(10, 9);
    noFlops.remove("realized_flops");
    assertRejected("missing outputs [realized_flops]", TestModels.inputs(32, 32, "float32", false),
        noFlops, TestModels.keys());
    Map<String, TensorSpec> badGate = TestModels.outputs(10, 9);
    badGate.put("kept_groups", new TensorSpec("kept_groups", "float32", new int[] {1, 8}));
    assertRejected("not both (1, blocks)", TestModels.inputs(32, 32, "float32", false), badGate,
        TestModels.keys());
  }

  @Test
  public void imagesMustHaveTheModelsSize() throws Exception {
    ModelSignature signature = TestModels.signature("d.tflite", 32, 32, 10, 9, false);
    ImageSet small = ImageSet.fromBytes(ImageSetTest.smallSetBytes());
    ContractException error =
        assertThrows(ContractException.class, () -> signature.checkImages(small));
    assertTrue(error.getMessage(), error.getMessage().contains("32x32x3"));
  }

  static Map<String, TensorSpec> knobInputs(int numDecisions, String dtype, boolean force) {
    Map<String, TensorSpec> inputs = TestModels.inputs(32, 32, "float32", force);
    inputs.put(ModelContract.DECISIONS_INPUT,
        new TensorSpec(ModelContract.DECISIONS_INPUT, dtype, new int[] {numDecisions}));
    return inputs;
  }

  static List<String> knobKeys() {
    return Arrays.asList(ModelContract.SIGNATURE_KEY, ModelContract.KNOB_SIGNATURE_KEY);
  }

  @Test
  public void aKnobFilesSecondSignatureTakesTheDecisionsToo() throws ContractException {
    assertEquals("serve_budget", ModelContract.KNOB_SIGNATURE_KEY);
    assertEquals("decisions", ModelContract.DECISIONS_INPUT);
    BudgetKnob knob = BudgetKnobTest.knob();  // 2 decisions
    ModelSignature signature = ModelContract.checkKnob("k.tflite", knobKeys(),
        knobInputs(2, "float32", false), TestModels.outputs(10, 9), knob);
    assertEquals("serve_budget", signature.key);
    assertTrue(signature.takesDecisions());
    assertEquals(2, signature.numDecisions());
    assertEquals(Arrays.asList("image", "decisions"), signature.inputsToSet());
    float[] decisions = knob.lookup(0.35).decisions();
    assertSame(decisions, signature.checkDecisions(decisions));
    ModelSignature forced = ModelContract.checkKnob("k.tflite", knobKeys(),
        knobInputs(2, "float32", true), TestModels.outputs(10, 9), knob);
    assertEquals(Arrays.asList("image", "decisions", "force_gates_open"), forced.inputsToSet());
    ModelSignature serve = ModelContract.check("k.tflite", knobKeys(),
        TestModels.inputs(32, 32, "float32", false), TestModels.outputs(10, 9));
    assertEquals("serve", serve.key);
    assertFalse(serve.takesDecisions());
    assertEquals(0, serve.numDecisions());
  }

  @Test
  public void decisionsMustBeOneFiniteFloatPerTableEntry() throws ContractException {
    ModelSignature signature = ModelContract.checkKnob("k.tflite", knobKeys(),
        knobInputs(2, "float32", false), TestModels.outputs(10, 9), BudgetKnobTest.knob());
    for (float[] bad : new float[][] {{0.1f}, {0.1f, 0.2f, 0.3f}, {0.1f, Float.NaN}, null}) {
      String message = assertThrows(IllegalArgumentException.class,
          () -> signature.checkDecisions(bad)).getMessage();
      assertTrue(message, message.startsWith("Invalid value for decisions: expected 2 finite "
          + "float32 values for k.tflite. Received: "));
    }
    ModelSignature serve = TestModels.signature("d.tflite", 32, 32, 10, 9, false);
    assertTrue(assertThrows(IllegalArgumentException.class,
        () -> serve.checkDecisions(new float[] {0.1f})).getMessage().contains("takes none"));
  }

  private static void assertKnobRejected(String expected, List<String> keys,
      Map<String, TensorSpec> inputs) {
    ContractException error = assertThrows(ContractException.class,
        () -> ModelContract.checkKnob("k.tflite", keys, inputs, TestModels.outputs(10, 9),
            BudgetKnobTest.knob()));
    assertTrue(error.getMessage(), error.getMessage().startsWith("k.tflite: "));
    assertTrue(error.getMessage(), error.getMessage().contains(expected));
  }

  @Test
  public void knobBreachesNameTheFileAndTheProblem() {
    assertKnobRejected("no \"serve_budget\" signature", TestModels.keys(),
        knobInputs(2, "float32", false));
    assertKnobRejected("no \"decisions\" input in \"serve_budget\"", knobKeys(),
        TestModels.inputs(32, 32, "float32", false));
    assertKnobRejected("input decisions float32[3] is not a (2,) float32 vector, one value per "
        + "decision of the file's table [threshold_0, stage1.offset]", knobKeys(),
        knobInputs(3, "float32", false));
    assertKnobRejected("is not a (2,) float32 vector", knobKeys(), knobInputs(2, "int32", false));
    Map<String, TensorSpec> extra = knobInputs(2, "float32", false);
    extra.put("temperature", new TensorSpec("temperature", "float32", new int[] {1}));
    assertKnobRejected("unknown inputs [temperature] of \"serve_budget\"", knobKeys(), extra);
    // "serve" never takes decisions: a file whose serve does is not the contract.
    assertRejected("unknown inputs [decisions] of \"serve\"", knobInputs(2, "float32", false),
        TestModels.outputs(10, 9), knobKeys());
  }
}
