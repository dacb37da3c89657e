package org.lcnet.demo.core;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Signatures shaped like an exported lcnet-tf model, for tests. */
final class TestModels {
  private TestModels() {}

  static Map<String, TensorSpec> inputs(int height, int width, String dtype, boolean force) {
    Map<String, TensorSpec> inputs = new LinkedHashMap<>();
    if (force) {
      inputs.put(ModelContract.FORCE_INPUT,
          new TensorSpec(ModelContract.FORCE_INPUT, "float32", new int[] {1}));
    }
    inputs.put(ModelContract.IMAGE_INPUT,
        new TensorSpec(ModelContract.IMAGE_INPUT, dtype, new int[] {1, height, width, 3}));
    return inputs;
  }

  static Map<String, TensorSpec> outputs(int classes, int blocks) {
    Map<String, TensorSpec> outputs = new LinkedHashMap<>();
    outputs.put("gate", new TensorSpec("gate", "float32", new int[] {1, blocks}));
    outputs.put("kept_groups", new TensorSpec("kept_groups", "float32", new int[] {1, blocks}));
    outputs.put("logits", new TensorSpec("logits", "float32", new int[] {1, classes}));
    outputs.put("realized_flops", new TensorSpec("realized_flops", "float32", new int[] {1}));
    return outputs;
  }

  static List<String> keys() {
    return Collections.singletonList(ModelContract.SIGNATURE_KEY);
  }

  static ModelSignature signature(String file, int height, int width, int classes, int blocks,
      boolean force) throws ContractException {
    return ModelContract.check(file, keys(), inputs(height, width, "float32", force),
        outputs(classes, blocks));
  }

  static List<String> list(String... items) {
    return Arrays.asList(items);
  }
}
