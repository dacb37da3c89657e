package org.lcnet.demo.core;

import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Opens an assets directory written by {@code python -m tflite.android_assets} the way the app
 * does (manifest, image set, each model's contract) and prints what the app would do with it, as
 * JSON: the contract's names, and per model the inputs it sets and the output sizes. A broken
 * asset makes it print {@code {"error": ...}} and exit 1.
 *
 * <pre>java ... AssetsCheck android_demo/app/src/main/assets</pre>
 */
public final class AssetsCheck {
  private AssetsCheck() {}

  public static void main(String[] args) throws Exception {
    Map<String, Object> out = new LinkedHashMap<>();
    try {
      out = check(Paths.get(args[0]));
    } catch (Exception e) {
      out.put("error", e.toString());
      System.out.println(Report.toJson(out));
      System.exit(1);
    }
    System.out.println(Report.toJson(out));
  }

  static Map<String, Object> check(Path assets) throws Exception {
    Manifest manifest = Manifest.parse(new String(
        Files.readAllBytes(assets.resolve(Manifest.FILE_NAME)), StandardCharsets.UTF_8));
    ImageSet images;
    try (InputStream stream = new FileInputStream(assets.resolve(manifest.imagesFile).toFile())) {
      images = ImageSet.read(stream);
    }
    if (images.count != manifest.imageCount) {
      throw new IllegalStateException("manifest says " + manifest.imageCount + " images, "
          + manifest.imagesFile + " holds " + images.count);
    }
    Map<String, Object> contract = new LinkedHashMap<>();
    contract.put("signature_key", ModelContract.SIGNATURE_KEY);
    contract.put("image_input", ModelContract.IMAGE_INPUT);
    contract.put("force_input", ModelContract.FORCE_INPUT);
    contract.put("force_gates_off", (double) ModelContract.FORCE_GATES_OFF);
    contract.put("output_names", new ArrayList<Object>(ModelContract.OUTPUT_NAMES));
    contract.put("image_dtypes", new ArrayList<Object>(ModelContract.IMAGE_DTYPES));
    Map<String, Object> models = new LinkedHashMap<>();
    Map<String, BudgetKnob> knobs = new LinkedHashMap<>();
    for (Manifest.Model model : manifest.models) {
      if (!Files.isRegularFile(assets.resolve(model.file))) {
        throw new IllegalStateException("missing model file " + model.file);
      }
      // As the app does when it loads: the table from the file's own bytes.
      BudgetKnob knob = BudgetKnob.find(model.file,
          Files.readAllBytes(assets.resolve(model.file)));
      ModelSignature signature = model.checkContract();
      signature.checkImages(images);
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("inputs_to_set", new ArrayList<Object>(signature.inputsToSet()));
      entry.put("image_dtype", signature.image.dtype);
      entry.put("num_classes", signature.numClasses);
      entry.put("num_blocks", signature.numBlocks);
      entry.put("num_if_ops", model.numIfOps);
      entry.put("role", model.role);
      entry.put("precision", model.precision);
      entry.put("stage_index", model.stageIndex());
      List<Object> units = new ArrayList<>();
      for (Manifest.DecisionUnit unit : model.decisionUnits) {
        units.add(Arrays.asList(unit.name, unit.kind, unit.gated));
      }
      entry.put("decision_units", units);
      entry.put("decision_units_source", model.decisionUnitsSource);
      entry.put("describe_units", model.describeUnits());
      entry.put("is_knob_file", model.isKnobFile());
      if (knob != null) {
        knobs.put(model.name, knob);
        Map<String, Object> table = new LinkedHashMap<>();
        table.put("decision_names", new ArrayList<Object>(knob.decisionNames));
        table.put("range", new double[] {knob.minBudget(), knob.maxBudget()});
        table.put("default_budget", knob.defaultRow.budget);
        table.put("inputs_to_set", new ArrayList<Object>(
            model.checkKnobContract(knob).inputsToSet()));
        entry.put("knob", table);
      }
      models.put(model.name, entry);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("contract", contract);
    out.put("models", models);
    out.put("reference", manifest.reference);
    out.put("default_options_reference", LaunchOptions.defaults(manifest).reference);
    out.put("images", images.count);
    out.put("labels", images.labels());
    out.put("python_table", manifest.pythonTable);
    if (!knobs.isEmpty()) {
      // What the app shows and runs: the slider at its initial position, and the run's rows.
      BudgetSlider slider = BudgetSlider.of(knobs);
      Map<String, Object> knob = new LinkedHashMap<>();
      knob.put("models", new ArrayList<Object>(slider.knobs.keySet()));
      knob.put("range", new double[] {slider.min, slider.max});
      knob.put("positions", slider.maxProgress() + 1);
      double budget = slider.budgetAt(slider.initialProgress());
      knob.put("initial_budget", budget);
      knob.put("label", slider.label(slider.initialProgress()));
      List<Object> rows = new ArrayList<>();
      for (RunPlan.Entry entry : RunPlan.of(LaunchOptions.defaults(manifest).models,
          slider.knobs, budget)) {
        rows.add(Arrays.asList(entry.name, entry.model, entry.signatureKey()));
      }
      knob.put("run_rows", rows);
      out.put("knob", knob);
    }
    return out;
  }
}
