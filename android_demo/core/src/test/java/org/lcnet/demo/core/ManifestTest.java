package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import org.junit.Test;

public class ManifestTest {
  static String model(String name, boolean force) {
    String inputs = "{" + (force ? "\"force_gates_open\": {\"dtype\": \"float32\", \"shape\": [1]}, "
        : "") + "\"image\": {\"dtype\": \"float32\", \"shape\": [1, 4, 5, 3]}}";
    return "{\"name\": \"" + name + "\", \"role\": \"" + name.split("_")[0] + "\", "
        + "\"precision\": \"" + (name.endsWith("_int8") ? "int8" : "float") + "\", "
        + "\"file\": \"models/" + name + ".tflite\", \"signature_keys\": [\"serve\"], "
        + "\"inputs\": " + inputs + ", \"outputs\": {"
        + "\"gate\": {\"dtype\": \"float32\", \"shape\": [1, 9]}, "
        + "\"kept_groups\": {\"dtype\": \"float32\", \"shape\": [1, 9]}, "
        + "\"logits\": {\"dtype\": \"float32\", \"shape\": [1, 10]}, "
        + "\"realized_flops\": {\"dtype\": \"float32\", \"shape\": [1]}}, \"num_if_ops\": 7}";
  }

  /** A manifest like the one write_android_assets writes (3 images of 4x5x3). */
  static Manifest sample() {
    return Manifest.parse(sampleText());
  }

  static String sampleText() {
    return "{\"kind\": \"lcnet-android-assets\", \"format\": 1, "
        + "\"images\": {\"file\": \"images.bin\", \"count\": 3, \"shape\": [4, 5, 3]}, "
        + "\"class_names\": [\"airplane\", \"automobile\"], \"reference\": \"static\", "
        + "\"models\": [" + model("dynamic", false) + ", " + model("static", false) + ", "
        + model("dynamic_int8", true) + ", " + model("static_int8", false) + "], "
        + "\"python_benchmark\": {\"table\": \"model  acc\"}, "
        + "\"metadata\": {\"tensorflow\": \"2.21.0\"}}";
  }

  @Test
  public void readsModelsSignaturesAndThePythonTable() throws ContractException {
    Manifest manifest = sample();
    assertEquals(Arrays.asList("dynamic", "static", "dynamic_int8", "static_int8"),
        manifest.modelNames());
    assertEquals(3, manifest.imageCount);
    assertEquals("images.bin", manifest.imagesFile);
    assertEquals("static", manifest.reference);
    assertEquals("model  acc", manifest.pythonTable);
    assertEquals("2.21.0", manifest.converterVersion());
    Manifest.Model int8 = manifest.model("dynamic_int8");
    assertEquals("int8", int8.precision);
    assertEquals(7, int8.numIfOps);
    assertEquals(Arrays.asList("image", "force_gates_open"), int8.checkContract().inputsToSet());
    assertEquals(Arrays.asList("image"), manifest.model("static").checkContract().inputsToSet());
    assertNull(manifest.model("reference"));
  }

  @Test
  public void rejectsOtherFilesAndFormats() {
    IllegalArgumentException wrongKind = assertThrows(IllegalArgumentException.class,
        () -> Manifest.parse("{\"kind\": \"web\", \"format\": 1}"));
    assertTrue(wrongKind.getMessage().contains("python -m tflite.android_assets"));
    IllegalArgumentException wrongFormat = assertThrows(IllegalArgumentException.class,
        () -> Manifest.parse("{\"kind\": \"lcnet-android-assets\", \"format\": 2}"));
    assertTrue(wrongFormat.getMessage().contains("format 2"));
  }
}
