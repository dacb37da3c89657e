package org.lcnet.demo;

import android.app.Activity;
import android.os.Build;
import android.os.Bundle;
import android.util.Log;
import android.view.View;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.CheckBox;
import android.widget.EditText;
import android.widget.LinearLayout;
import android.widget.ProgressBar;
import android.widget.SeekBar;
import android.widget.Spinner;
import android.widget.TextView;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import org.lcnet.demo.core.Benchmark;
import org.lcnet.demo.core.BudgetKnob;
import org.lcnet.demo.core.BudgetSlider;
import org.lcnet.demo.core.Clock;
import org.lcnet.demo.core.ContractException;
import org.lcnet.demo.core.ImageSet;
import org.lcnet.demo.core.LaunchOptions;
import org.lcnet.demo.core.Manifest;
import org.lcnet.demo.core.ModelRecord;
import org.lcnet.demo.core.Report;
import org.lcnet.demo.core.RunPlan;
import org.lcnet.demo.core.ScatterPlot;
import org.lcnet.demo.core.Summary;

/**
 * One screen: pick models, threads and images, run the benchmark on a background thread, show
 * the table and the latency-vs-FLOPs scatter, write the JSON report and one logcat line. When a
 * model is a knob file, a budget slider also runs it at the chosen budget ("serve_budget"),
 * beside the static models, and reruns when the slider is released. All logic lives in
 * org.lcnet.demo.core (BudgetKnob, BudgetSlider, RunPlan for the knob); this class only wires it
 * to the views and to LiteRT.
 */
public final class MainActivity extends Activity {
  private static final String TAG = "LcnetDemo";

  private final ExecutorService worker = Executors.newSingleThreadExecutor();
  private final AtomicBoolean cancel = new AtomicBoolean();
  private final Map<String, CheckBox> modelBoxes = new LinkedHashMap<>();
  private Manifest manifest;
  private ImageSet images;
  private LaunchOptions options;
  private boolean running;
  private boolean ranOnce;
  /** Knob files among the models (read from their bytes at load); null: none. */
  private BudgetSlider slider;
  /** A budget launch extra runs as given until the slider is touched; NaN: the slider's. */
  private double pinnedBudget = Double.NaN;
  private final List<String> loadWarnings = new ArrayList<>();

  private TextView status;
  private TextView error;
  private Spinner threads;
  private EditText imageCount;
  private Button run;
  private ProgressBar progress;
  private TextView table;
  private ScatterView scatter;
  private TextView pythonTable;
  private View knobPanel;
  private CheckBox knobRun;
  private SeekBar budgetBar;
  private TextView budgetLabel;
  private TextView knobSummary;

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.activity_main);
    status = findViewById(R.id.status);
    error = findViewById(R.id.error);
    threads = findViewById(R.id.threads);
    imageCount = findViewById(R.id.images);
    run = findViewById(R.id.run);
    progress = findViewById(R.id.progress);
    table = findViewById(R.id.table);
    scatter = findViewById(R.id.scatter);
    pythonTable = findViewById(R.id.python_table);
    knobPanel = findViewById(R.id.knob_panel);
    knobRun = findViewById(R.id.knob_run);
    budgetBar = findViewById(R.id.budget);
    budgetLabel = findViewById(R.id.budget_label);
    knobSummary = findViewById(R.id.knob_summary);
    run.setOnClickListener(view -> {
      if (running) {
        cancel.set(true);
      } else {
        startRun();
      }
    });
    status.setText("Loading assets...");
    worker.execute(this::loadAssets);
  }

  @Override
  protected void onDestroy() {
    cancel.set(true);
    worker.shutdown();
    super.onDestroy();
  }

  /** Background: manifest, images, the knob files' tables and launch extras. */
  private void loadAssets() {
    try {
      manifest = Manifest.parse(readAsset(Manifest.FILE_NAME));
      try (InputStream stream = getAssets().open(manifest.imagesFile)) {
        images = ImageSet.read(stream);
      }
    } catch (IOException | RuntimeException e) {
      showError("No usable assets: " + e.getMessage() + "\nWrite them with `python -m "
          + "tflite.android_assets --workdir <run>` (android_demo/README.md) and rebuild.");
      return;
    }
    Map<String, BudgetKnob> knobs = new LinkedHashMap<>();
    for (Manifest.Model model : manifest.models) {
      try {
        BudgetKnob knob = BudgetKnob.find(model.file,
            LiteRtModelRunner.map(getAssets(), model.file));
        if (knob != null) {
          knobs.put(model.name, knob);
        }
      } catch (ContractException | LiteRtModelRunner.LoadException e) {
        loadWarnings.add(e.getMessage() + " (" + model.name + " runs its \"serve\" signature "
            + "only)");
      }
    }
    if (!knobs.isEmpty()) {
      slider = BudgetSlider.of(knobs);
      for (String reason : slider.excluded.values()) {
        loadWarnings.add("Left out of the budget slider: " + reason);
      }
    }
    LaunchOptions parsed;
    String optionError = null;
    try {
      parsed = LaunchOptions.parse(extras(), manifest);
    } catch (IllegalArgumentException e) {
      optionError = e.getMessage();
      parsed = LaunchOptions.defaults(manifest);
    }
    options = parsed;
    final String message = optionError;
    runOnUiThread(() -> {
      showLoaded();
      if (message != null) {
        showError(message);
      } else if (!loadWarnings.isEmpty()) {
        showError(String.join("\n", loadWarnings));
      }
      if (message == null && options.autostart) {
        startRun();
      }
    });
  }

  private Map<String, String> extras() {
    Map<String, String> values = new HashMap<>();
    Bundle bundle = getIntent().getExtras();
    if (bundle != null) {
      for (String key : bundle.keySet()) {
        @SuppressWarnings("deprecation")
        Object value = bundle.get(key);
        values.put(key, String.valueOf(value));
      }
    }
    return values;
  }

  private void showLoaded() {
    LinearLayout box = findViewById(R.id.models);
    for (Manifest.Model model : manifest.models) {
      CheckBox check = new CheckBox(this);
      String units = model.describeUnits();
      BudgetKnob knob = slider == null ? null : slider.knobs.get(model.name);
      check.setText(model.name + "  (" + model.file + ", " + model.numIfOps + " IF ops"
          + (units.isEmpty() ? "" : "; " + units) + (knob == null ? "" : "; " + knob.summary())
          + ")");
      check.setChecked(options.models.contains(model.name));
      box.addView(check);
      modelBoxes.put(model.name, check);
    }
    List<Integer> choices = new ArrayList<>(LaunchOptions.THREAD_CHOICES);  // 1, 2, 4
    if (!choices.contains(options.threads)) {
      choices.add(options.threads);  // From the launch extras.
    }
    threads.setAdapter(new ArrayAdapter<>(this, android.R.layout.simple_spinner_dropdown_item,
        choices));
    threads.setSelection(choices.indexOf(options.threads));
    imageCount.setText(String.valueOf(options.images));
    if (manifest.pythonTable != null) {
      pythonTable.setText(manifest.pythonTable + "\n" + describeMachine());
    }
    status.setText(images.count + " test images, " + manifest.models.size() + " models; LiteRT "
        + BuildConfig.LITERT_VERSION + " on " + Build.MANUFACTURER + " " + Build.MODEL);
    showKnob();
    run.setEnabled(true);
  }

  /** The budget slider, when a model is a knob file. */
  private void showKnob() {
    if (slider == null) {
      if (options.hasBudget()) {
        showError("Invalid extra budget: no model in the assets is a knob file (export one with "
            + "lcnet_tf.export.to_tflite(..., budget_table=...)); the budget is ignored.");
      }
      return;
    }
    knobPanel.setVisibility(View.VISIBLE);
    budgetBar.setMax(slider.maxProgress());
    int start = slider.initialProgress();
    if (options.hasBudget()) {
      try {
        start = slider.progressOf(options.budget);
        budgetLabel.setText(slider.describe(options.budget));
        pinnedBudget = options.budget;
      } catch (IllegalArgumentException e) {
        showError(e.getMessage());
      }
    }
    knobRun.setChecked(true);
    budgetBar.setProgress(start);
    if (Double.isNaN(pinnedBudget)) {
      budgetLabel.setText(slider.label(start));
    }
    budgetBar.setOnSeekBarChangeListener(new SeekBar.OnSeekBarChangeListener() {
      @Override
      public void onProgressChanged(SeekBar bar, int progress, boolean fromUser) {
        if (fromUser) {
          pinnedBudget = Double.NaN;
        }
        if (Double.isNaN(pinnedBudget)) {
          budgetLabel.setText(slider.label(progress));
        }
      }

      @Override
      public void onStartTrackingTouch(SeekBar bar) {}

      @Override
      public void onStopTrackingTouch(SeekBar bar) {
        // The benchmark reruns at the new budget, as the last run did at the old one.
        if (!running && ranOnce && knobRun.isChecked()) {
          startRun();
        }
      }
    });
  }

  /** The budget the next run uses: the launch extra, the slider's, or NaN (no knob rows). */
  private double chosenBudget() {
    if (slider == null || !knobRun.isChecked()) {
      return Double.NaN;
    }
    return Double.isNaN(pinnedBudget) ? slider.budgetAt(budgetBar.getProgress()) : pinnedBudget;
  }

  private String describeMachine() {
    Object machine = manifest.pythonBenchmark == null ? null
        : manifest.pythonBenchmark.get("machine");
    return machine == null ? "" : "(" + machine + ")";
  }

  private void startRun() {
    List<String> selected = new ArrayList<>();
    for (Map.Entry<String, CheckBox> entry : modelBoxes.entrySet()) {
      if (entry.getValue().isChecked()) {
        selected.add(entry.getKey());
      }
    }
    if (selected.isEmpty()) {
      showError("Select at least one model.");
      return;
    }
    int count;
    try {
      count = Math.max(1, Math.min(images.count,
          Integer.parseInt(imageCount.getText().toString().trim())));
    } catch (NumberFormatException e) {
      count = images.count;
    }
    final LaunchOptions chosen =
        options.with(selected, count, (Integer) threads.getSelectedItem(), chosenBudget());
    final List<RunPlan.Entry> plan;
    try {
      plan = RunPlan.of(chosen.models, slider == null
          ? Collections.<String, BudgetKnob>emptyMap() : slider.knobs, chosen.budget);
    } catch (IllegalArgumentException e) {
      showError(e.getMessage());
      return;
    }
    options = chosen;
    running = true;
    cancel.set(false);
    error.setVisibility(View.GONE);
    run.setText(R.string.cancel);
    progress.setMax(chosen.images);
    progress.setProgress(0);
    status.setText("Loading models (" + chosen.threads + " thread" + (chosen.threads > 1 ? "s" : "")
        + ", XNNPACK " + (chosen.xnnpack ? "on" : "off") + ")...");
    worker.execute(() -> runBenchmark(chosen, plan));
  }

  /** Background: load the models (a knob row: its file's "serve_budget"), run, report. */
  private void runBenchmark(LaunchOptions chosen, List<RunPlan.Entry> plan) {
    Map<String, LiteRtModelRunner> runners = new LinkedHashMap<>();
    try {
      for (RunPlan.Entry entry : plan) {
        runners.put(entry.name, LiteRtModelRunner.open(getAssets(),
            manifest.model(entry.model).file, entry.knob, entry.setting, chosen.threads,
            chosen.xnnpack, manifest.converterVersion()));
      }
      runOnUiThread(() -> status.setText("Running " + runners.keySet() + " on " + chosen.images
          + " images..."));
      Map<String, ModelRecord> records = new Benchmark(chosen.repeats, chosen.chunk, Clock.SYSTEM)
          .run(runners, images, chosen.images,
              (done, total) -> runOnUiThread(() -> progress.setProgress(done)), cancel);
      Summary summary = Summary.compute(records, chosen.reference);
      File report = writeReports(summary, records, chosen, plan);
      String line = Report.summaryLine(summary);
      String knobLines = RunPlan.knobLines(summary, plan);
      Log.i(TAG, "lcnet-demo result: " + line);
      for (String knobLine : knobLines.isEmpty() ? new String[0] : knobLines.split("\n")) {
        Log.i(TAG, "lcnet-demo knob: " + knobLine);
      }
      Log.i(TAG, "lcnet-demo report: " + report);
      runOnUiThread(() -> {
        table.setText(Report.table(summary));
        knobSummary.setText(knobLines);
        knobSummary.setVisibility(knobLines.isEmpty() ? View.GONE : View.VISIBLE);
        scatter.setPlot(ScatterPlot.of(records));
        status.setText(line + "\nReport: " + report);
        ranOnce = true;
      });
    } catch (LiteRtModelRunner.LoadException e) {
      Log.e(TAG, e.getMessage(), e);
      showError(e.getMessage());
    } catch (Benchmark.CancelledException e) {
      runOnUiThread(() -> status.setText("Cancelled."));
    } catch (Exception e) {
      Log.e(TAG, "Benchmark failed", e);
      showError("Benchmark failed: " + (e.getMessage() != null ? e.getMessage() : e.toString()));
    } finally {
      for (LiteRtModelRunner runner : runners.values()) {
        runner.close();
      }
      runOnUiThread(() -> {
        running = false;
        run.setText(R.string.run);
      });
    }
  }

  private File writeReports(Summary summary, Map<String, ModelRecord> records,
      LaunchOptions chosen, List<RunPlan.Entry> plan) throws IOException {
    Map<String, Object> metadata = new LinkedHashMap<>();
    Map<String, Object> device = new LinkedHashMap<>();
    device.put("manufacturer", Build.MANUFACTURER);
    device.put("model", Build.MODEL);
    device.put("hardware", Build.HARDWARE);
    if (Build.VERSION.SDK_INT >= 31) {
      device.put("soc", Build.SOC_MANUFACTURER + " " + Build.SOC_MODEL);
    }
    device.put("abi", Build.SUPPORTED_ABIS.length > 0 ? Build.SUPPORTED_ABIS[0] : null);
    device.put("sdk", Build.VERSION.SDK_INT);
    metadata.put("device", device);
    metadata.put("runtime", "LiteRT " + BuildConfig.LITERT_VERSION + " (Java Interpreter)");
    metadata.put("num_images", chosen.images);
    metadata.put("num_threads", chosen.threads);
    metadata.put("xnnpack", chosen.xnnpack);
    metadata.put("repeats", chosen.repeats);
    metadata.put("chunk", chosen.chunk);
    metadata.put("models", new ArrayList<Object>(chosen.models));
    metadata.put("knob", RunPlan.knobJson(plan));  // Knob rows: budget, decisions, expected FLOPs.
    metadata.put("python_benchmark", manifest.pythonBenchmark);
    String json = Report.json(summary, records, metadata);
    String csv = Report.csv(records, images);
    String stamp = new SimpleDateFormat("yyyyMMdd-HHmmss", Locale.ROOT).format(new Date());
    File main = null;
    for (File base : new File[] {getFilesDir(), getExternalFilesDir(null)}) {
      if (base == null) {
        continue;
      }
      File dir = new File(base, "reports");
      if (!dir.isDirectory() && !dir.mkdirs()) {
        continue;
      }
      write(new File(dir, "report.json"), json);
      write(new File(dir, "report-" + stamp + ".json"), json);
      write(new File(dir, "per_image.csv"), csv);
      if (main == null) {
        main = new File(dir, "report.json");
      }
    }
    if (main == null) {
      throw new IOException("No writable files directory");
    }
    return main;
  }

  private static void write(File file, String text) throws IOException {
    try (OutputStream out = new FileOutputStream(file)) {
      out.write(text.getBytes(StandardCharsets.UTF_8));
    }
  }

  private String readAsset(String name) throws IOException {
    try (InputStream stream = getAssets().open(name)) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      byte[] buffer = new byte[1 << 14];
      int read;
      while ((read = stream.read(buffer)) > 0) {
        out.write(buffer, 0, read);
      }
      return new String(out.toByteArray(), StandardCharsets.UTF_8);
    }
  }

  private void showError(String message) {
    runOnUiThread(() -> {
      error.setText(message);
      error.setVisibility(View.VISIBLE);
    });
  }
}
