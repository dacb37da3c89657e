package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;

import java.util.Arrays;
import org.junit.Test;

public class ScatterPlotTest {
  @Test
  public void axesHaveRoundTicksCoveringTheData() {
    ScatterPlot.Axis axis = ScatterPlot.niceAxis(0, 41.3, 5);
    assertEquals(10.0, axis.step, 0.0);
    assertEquals(50.0, axis.max, 0.0);
    assertEquals(Arrays.asList(0.0, 10.0, 20.0, 30.0, 40.0, 50.0), axis.ticks);
    assertEquals(0.5, ScatterPlot.niceAxis(0, 2.2, 5).step, 0.0);
    assertEquals(0.2, ScatterPlot.niceAxis(0, 0.9, 5).step, 1e-15);
    assertEquals(1.0, axis.fraction(80), 0.0);  // Clamped.
    assertEquals(1.0, ScatterPlot.niceAxis(3, 3, 5).max - ScatterPlot.niceAxis(3, 3, 5).min, 1.0);
  }

  @Test
  public void oneSeriesPerModelInMflopsAndMilliseconds() {
    ScatterPlot plot = ScatterPlot.of(SummaryReportTest.records());
    assertEquals(2, plot.series.size());
    assertEquals("static", plot.series.get(0).name);
    assertEquals(0.0001, plot.series.get(0).mflops[0], 1e-18);
    assertEquals(0.8, plot.series.get(1).latencyMs[3], 0.0);
    assertEquals(0.0, plot.x.min, 0.0);
  }
}
