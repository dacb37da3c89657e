package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class LoadErrorsTest {
  @Test
  public void aRuntimeOlderThanTheConverterNamesTheFileAndTheOp() {
    IllegalArgumentException error = new IllegalArgumentException("Internal error: Cannot create "
        + "interpreter: Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. An older "
        + "version of this builtin might be supported. Are you using an old TFLite binary with a "
        + "newer model?\nRegistration failed.\n");
    String message = LoadErrors.describe("dynamic_int8.tflite", error, "LiteRT 2.1.6", "2.21.0");
    assertTrue(message, message.startsWith("dynamic_int8.tflite cannot run on this LiteRT runtime"));
    assertTrue(message, message.contains("op FULLY_CONNECTED version 12"));
    assertTrue(message, message.contains("converted with TensorFlow 2.21.0"));
    assertTrue(message, message.contains("libs.versions.toml"));
  }

  @Test
  public void customOpsAndOtherErrors() {
    String custom = LoadErrors.describe("m.tflite", new IllegalStateException(
        "Encountered unresolved custom op: FlexConv2D.\nSee instructions"), "LiteRT 2.1.6", null);
    assertTrue(custom, custom.contains("custom op FlexConv2D"));
    String other = LoadErrors.describe("m.tflite", new IllegalArgumentException(
        "The model is not a valid Flatbuffer buffer\nmore"), "LiteRT 2.1.6", null);
    assertEquals("m.tflite cannot be loaded by LiteRT LiteRT 2.1.6: The model is not a valid "
        + "Flatbuffer buffer", other);
    String empty = LoadErrors.describe("m.tflite", new NullPointerException(), "2.1.6", null);
    assertTrue(empty, empty.endsWith("java.lang.NullPointerException"));
  }
}
