package org.lcnet.demo;

import android.content.Context;
import android.graphics.Canvas;
import android.graphics.Color;
import android.graphics.Paint;
import android.util.AttributeSet;
import android.view.View;
import java.util.Locale;
import org.lcnet.demo.core.ScatterPlot;

/** Draws a {@link ScatterPlot} (axes, ticks and points are computed in the core). */
public final class ScatterView extends View {
  private static final int[] COLORS = {
      Color.rgb(31, 119, 180), Color.rgb(255, 127, 14), Color.rgb(44, 160, 44),
      Color.rgb(214, 39, 40), Color.rgb(148, 103, 189), Color.rgb(140, 86, 75)};

  private final Paint axis = new Paint(Paint.ANTI_ALIAS_FLAG);
  private final Paint text = new Paint(Paint.ANTI_ALIAS_FLAG);
  private final Paint point = new Paint(Paint.ANTI_ALIAS_FLAG);
  private ScatterPlot plot;

  public ScatterView(Context context, AttributeSet attributes) {
    super(context, attributes);
    float density = getResources().getDisplayMetrics().density;
    axis.setColor(Color.DKGRAY);
    axis.setStrokeWidth(density);
    text.setColor(Color.DKGRAY);
    text.setTextSize(10 * density);
  }

  /** Shows {@code plot} (null clears the view). */
  public void setPlot(ScatterPlot plot) {
    this.plot = plot;
    invalidate();
  }

  @Override
  protected void onDraw(Canvas canvas) {
    super.onDraw(canvas);
    if (plot == null) {
      return;
    }
    float density = getResources().getDisplayMetrics().density;
    float left = 40 * density;
    float right = getWidth() - 8 * density;
    float top = 8 * density;
    float bottom = getHeight() - 24 * density;
    canvas.drawLine(left, bottom, right, bottom, axis);
    canvas.drawLine(left, top, left, bottom, axis);
    for (double tick : plot.x.ticks) {
      float x = (float) (left + plot.x.fraction(tick) * (right - left));
      canvas.drawLine(x, bottom, x, bottom + 4 * density, axis);
      canvas.drawText(format(tick), x - 8 * density, bottom + 14 * density, text);
    }
    for (double tick : plot.y.ticks) {
      float y = (float) (bottom - plot.y.fraction(tick) * (bottom - top));
      canvas.drawLine(left - 4 * density, y, left, y, axis);
      canvas.drawText(format(tick), 2 * density, y + 4 * density, text);
    }
    canvas.drawText("MFLOPs", right - 40 * density, bottom + 22 * density, text);
    float radius = 1.5f * density;
    for (int s = 0; s < plot.series.size(); s++) {
      ScatterPlot.Series series = plot.series.get(s);
      point.setColor(COLORS[s % COLORS.length]);
      point.setAlpha(140);
      for (int i = 0; i < series.mflops.length; i++) {
        float x = (float) (left + plot.x.fraction(series.mflops[i]) * (right - left));
        float y = (float) (bottom - plot.y.fraction(series.latencyMs[i]) * (bottom - top));
        canvas.drawCircle(x, y, radius, point);
      }
      point.setAlpha(255);
      float legendY = top + (s + 1) * 12 * density;
      canvas.drawCircle(left + 10 * density, legendY - 3 * density, 3 * density, point);
      canvas.drawText(series.name, left + 16 * density, legendY, text);
    }
  }

  private static String format(double value) {
    return value == Math.rint(value) ? String.format(Locale.ROOT, "%.0f", value)
        : String.format(Locale.ROOT, "%.2g", value);
  }
}
