package org.lcnet.demo.core;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Turns LiteRT's load errors into one message that names the file and what to do.
 *
 * <p>The usual one: a runtime older than the converter ("Didn't find op for builtin opcode
 * 'FULLY_CONNECTED' version '12'. An older version of this builtin might be supported. Are you
 * using an old TFLite binary with a newer model?").
 */
public final class LoadErrors {
  private static final Pattern MISSING_BUILTIN =
      Pattern.compile("Didn't find op for builtin opcode '([A-Za-z0-9_]+)' version '(\\d+)'");
  private static final Pattern MISSING_CUSTOM =
      Pattern.compile("(?:Encountered unresolved custom op|Didn't find custom op)[^A-Za-z0-9_]*"
          + "([A-Za-z0-9_]+)");

  private LoadErrors() {}

  /**
   * @param file the model's file name
   * @param error what LiteRT threw (its message, or its class name if there is none)
   * @param runtimeVersion the LiteRT version the app was built with
   * @param converterVersion the TensorFlow version that converted the file (manifest), or null
   */
  public static String describe(String file, Throwable error, String runtimeVersion,
      String converterVersion) {
    String message = error.getMessage() == null ? error.getClass().getName() : error.getMessage();
    String converter = converterVersion == null ? "" : " (converted with TensorFlow "
        + converterVersion + ")";
    Matcher builtin = MISSING_BUILTIN.matcher(message);
    if (builtin.find()) {
      return file + " cannot run on this LiteRT runtime (" + runtimeVersion + "): it has no "
          + "kernel for op " + builtin.group(1) + " version " + builtin.group(2)
          + ". The converter is newer than the runtime" + converter + ": raise litert in "
          + "android_demo/gradle/libs.versions.toml, or convert with an older TensorFlow.";
    }
    Matcher custom = MISSING_CUSTOM.matcher(message);
    if (custom.find()) {
      return file + " needs the custom op " + custom.group(1) + ", which LiteRT's builtin ops do "
          + "not have: export it with lcnet_tf.export.to_tflite (builtin ops only).";
    }
    String firstLine = message.split("\n", 2)[0];
    return file + " cannot be loaded by LiteRT " + runtimeVersion + converter + ": " + firstLine;
  }
}
