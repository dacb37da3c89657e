package org.lcnet.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.Test;

public class BenchmarkTest {
  /** Logs its calls; each invoke lasts (model offset + 10 * image + repeat counter) us. */
  static class LoggingRunner implements ModelRunner {
    final String name;
    final List<String> log;
    final GoldenCheck.FakeClock clock;
    final long offsetNs;
    final ModelSignature signature;
    int image = -1;
    int invokes;

    LoggingRunner(String name, List<String> log, GoldenCheck.FakeClock clock, long offsetNs,
        boolean force) throws ContractException {
      this.name = name;
      this.log = log;
      this.clock = clock;
      this.offsetNs = offsetNs;
      this.signature = TestModels.signature(name, 4, 5, 10, 2, force);
    }

    @Override
    public ModelSignature signature() {
      return signature;
    }

    @Override
    public void setImage(ImageSet images, int index) {
      image = index;
    }

    @Override
    public void invoke() {
      log.add(name + ":" + image);
      invokes++;
      clock.now += offsetNs + 10_000L * image + 1_000L * (invokes % 2);
    }

    @Override
    public void readOutputs(ModelOutputs outputs) {
      Arrays.fill(outputs.logits, 0f);
      outputs.logits[image % 10] = 1f;
      outputs.gate[0] = 1f;
      outputs.gate[1] = image % 2;
      outputs.realizedFlops = 1000f + image;
    }

    @Override
    public void close() {}
  }

  private static ImageSet images() throws Exception {
    return ImageSet.fromBytes(ImageSetTest.smallSetBytes());  // 3 images, labels 3, 0, 9.
  }

  @Test
  public void followsPythonsProtocolWarmUpThenModelsInTurnPerChunk() throws Exception {
    List<String> log = new ArrayList<>();
    GoldenCheck.FakeClock clock = new GoldenCheck.FakeClock();
    Map<String, LoggingRunner> runners = new LinkedHashMap<>();
    runners.put("a", new LoggingRunner("a", log, clock, 100_000, false));
    runners.put("b", new LoggingRunner("b", log, clock, 200_000, true));
    List<Integer> progress = new ArrayList<>();
    Map<String, ModelRecord> records = new Benchmark(2, 2, clock).run(runners, images(), 3,
        (done, total) -> progress.add(done * 10 + total), null);
    List<String> expected = Arrays.asList(
        "a:0", "a:1", "a:2", "b:0", "b:1", "b:2",      // warm-up: min(5, N) images each
        "a:0", "a:0", "a:0", "a:1", "a:1",             // chunk [0, 2): untimed first image, 2 x 2
        "b:0", "b:0", "b:0", "b:1", "b:1",
        "a:2", "a:2", "a:2",                           // chunk [2, 3)
        "b:2", "b:2", "b:2");
    assertEquals(expected, log);
    assertEquals(Arrays.asList(23, 33), progress);
    ModelRecord a = records.get("a");
    // Image 0 of "a": invokes 8 and 9 -> 100 us + 0 and 100 us + 1 us: median 100.5 us.
    assertEquals(0.1005, a.latencyMs[0], 1e-15);
    assertArrayEquals(new double[] {1000, 1001, 1002}, a.flops, 0.0);
    assertArrayEquals(new int[] {0, 1, 2}, a.prediction);
    assertEquals(Arrays.asList(false, false, false),
        Arrays.asList(a.correct[0], a.correct[1], a.correct[2]));
    assertEquals(1, a.blocksRun(0));
    assertEquals(2, a.blocksRun(1));
  }

  @Test
  public void correctnessComparesArgmaxWithTheLabel() throws Exception {
    List<String> log = new ArrayList<>();
    GoldenCheck.FakeClock clock = new GoldenCheck.FakeClock();
    Map<String, LoggingRunner> runners = new LinkedHashMap<>();
    runners.put("a", new LoggingRunner("a", log, clock, 100_000, false) {
      @Override
      public void readOutputs(ModelOutputs outputs) {
        super.readOutputs(outputs);
        Arrays.fill(outputs.logits, 0f);
        outputs.logits[new int[] {3, 1, 9}[image]] = 2f;  // Right, wrong, right.
      }
    });
    ModelRecord record = new Benchmark(1, 50, clock).run(runners, images(), 3, null, null).get("a");
    assertTrue(record.correct[0]);
    assertTrue(!record.correct[1]);
    assertTrue(record.correct[2]);
  }

  @Test
  public void cancellingStopsBetweenImages() throws Exception {
    List<String> log = new ArrayList<>();
    GoldenCheck.FakeClock clock = new GoldenCheck.FakeClock();
    Map<String, LoggingRunner> runners = new LinkedHashMap<>();
    runners.put("a", new LoggingRunner("a", log, clock, 100_000, false));
    AtomicBoolean cancel = new AtomicBoolean(true);
    assertThrows(Benchmark.CancelledException.class,
        () -> new Benchmark(1, 1, clock).run(runners, images(), 3, null, cancel));
  }

  @Test
  public void rejectsBadSettingsAndImagesOfTheWrongSize() throws Exception {
    assertThrows(IllegalArgumentException.class, () -> new Benchmark(0, 1, Clock.SYSTEM));
    assertThrows(IllegalArgumentException.class, () -> new Benchmark(1, 0, Clock.SYSTEM));
    GoldenCheck.FakeClock clock = new GoldenCheck.FakeClock();
    Map<String, ModelRunner> runners = new LinkedHashMap<>();
    runners.put("a", new LoggingRunner("a", new ArrayList<>(), clock, 1, false));
    Benchmark benchmark = new Benchmark(1, 1, clock);
    assertThrows(IllegalArgumentException.class,
        () -> benchmark.run(runners, images(), 4, null, null));
    assertThrows(IllegalArgumentException.class,
        () -> benchmark.run(new LinkedHashMap<String, ModelRunner>(), images(), 1, null, null));
    Map<String, ModelRunner> big = new LinkedHashMap<>();
    big.put("big", new LoggingRunner("big", new ArrayList<>(), clock, 1, false) {
      @Override
      public ModelSignature signature() {
        try {
          return TestModels.signature("big.tflite", 32, 32, 10, 2, false);
        } catch (ContractException e) {
          throw new AssertionError(e);
        }
      }
    });
    assertThrows(ContractException.class, () -> benchmark.run(big, images(), 1, null, null));
  }

  @Test
  public void theReferenceIsPickedAsPythonPicksIt() {
    assertEquals("static", Benchmark.defaultReference(TestModels.list("dynamic", "static")));
    assertEquals("static_int8",
        Benchmark.defaultReference(TestModels.list("dynamic_int8", "static_int8", "x")));
    assertEquals("dynamic", Benchmark.defaultReference(TestModels.list("dynamic", "reference")));
  }
}
