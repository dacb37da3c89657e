package org.lcnet.demo.core;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.runner.Description;
import org.junit.runner.JUnitCore;
import org.junit.runner.Result;
import org.junit.runner.notification.Failure;
import org.junit.runner.notification.RunListener;

/**
 * Runs JUnit test classes with {@link JUnitCore} and writes one JSON entry per test (status and
 * failure trace), so that tests/android_demo/test_core_junit.py can report each as a pytest test.
 *
 * <pre>java -cp ... org.lcnet.demo.core.JUnitReport results.json org.lcnet.demo.core.StatsTest ...</pre>
 */
public final class JUnitReport {
  private JUnitReport() {}

  public static void main(String[] args) throws Exception {
    Map<String, Object> results = new LinkedHashMap<>();
    JUnitCore core = new JUnitCore();
    core.addListener(new RunListener() {
      @Override
      public void testStarted(Description description) {
        results.put(name(description), entry("passed", null));
      }

      @Override
      public void testFailure(Failure failure) {
        StringWriter trace = new StringWriter();
        if (failure.getException() != null) {
          failure.getException().printStackTrace(new PrintWriter(trace));
        }
        results.put(name(failure.getDescription()), entry("failed", trace.toString()));
      }

      @Override
      public void testAssumptionFailure(Failure failure) {
        results.put(name(failure.getDescription()), entry("skipped", failure.getMessage()));
      }

      @Override
      public void testIgnored(Description description) {
        results.put(name(description), entry("skipped", "@Ignore"));
      }
    });
    Class<?>[] classes = new Class<?>[args.length - 1];
    for (int i = 1; i < args.length; i++) {
      classes[i - 1] = Class.forName(args[i]);
    }
    Result result = core.run(classes);
    Files.write(Paths.get(args[0]), Report.toJson(results).getBytes(StandardCharsets.UTF_8));
    System.out.println("JUnit: " + result.getRunCount() + " run, " + result.getFailureCount()
        + " failed, " + result.getIgnoreCount() + " ignored");
    System.exit(result.wasSuccessful() ? 0 : 1);
  }

  private static String name(Description description) {
    String className = description.getClassName();
    return className.substring(className.lastIndexOf('.') + 1) + "." + description.getMethodName();
  }

  private static Map<String, Object> entry(String status, String message) {
    Map<String, Object> entry = new LinkedHashMap<>();
    entry.put("status", status);
    entry.put("message", message);
    return entry;
  }
}
