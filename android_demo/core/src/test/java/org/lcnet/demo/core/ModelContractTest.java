package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
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
}
