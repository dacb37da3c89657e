package org.lcnet.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import org.junit.Test;

public class ManifestTest {
  static String model(String name, boolean force) {
    return model(name, force, 9, null);
  }

  /** A model entry whose gate has {@code columns} columns and, if given, decision_units. */
  static String model(String name, boolean force, int columns, String units) {
    String inputs = "{" + (force ? "\"force_gates_open\": {\"dtype\": \"float32\", \"shape\": [1]}, "
        : "") + "\"image\": {\"dtype\": \"float32\", \"shape\": [1, 4, 5, 3]}}";
    return "{\"name\": \"" + name + "\", \"role\": \"" + name.split("_")[0] + "\", "
        + "\"precision\": \"" + (name.endsWith("_int8") ? "int8" : "float") + "\", "
        + "\"file\": \"models/" + name + ".tflite\", \"signature_keys\": [\"serve\"], "
        + "\"inputs\": " + inputs + ", \"outputs\": {"
        + "\"gate\": {\"dtype\": \"float32\", \"shape\": [1, " + columns + "]}, "
        + "\"kept_groups\": {\"dtype\": \"float32\", \"shape\": [1, " + columns + "]}, "
        + "\"logits\": {\"dtype\": \"float32\", \"shape\": [1, 10]}, "
        + "\"realized_flops\": {\"dtype\": \"float32\", \"shape\": [1]}}, \"num_if_ops\": 7"
        + (units == null ? "" : ", \"decision_units\": " + units
            + ", \"decision_units_source\": \"keras\"") + "}";
  }

  static String unit(String name, String kind, String gated) {
    return "{\"name\": \"" + name + "\", \"kind\": \"" + kind + "\", \"gated\": " + gated + "}";
  }

  /** A static-then-LC cascade (2 stages, 3 blocks in the gated one) and its stage0 file. */
  static String cascadeText(String dynamicUnits) {
    String stageUnits = "[" + unit("stage1_block1", "block", "false") + ", "
        + unit("stage2_block1", "block", "false") + ", "
        + unit("stage3_block1", "block", "false") + "]";
    return "{\"kind\": \"lcnet-android-assets\", \"format\": 1, "
        + "\"images\": {\"file\": \"images.bin\", \"count\": 3, \"shape\": [4, 5, 3]}, "
        + "\"class_names\": null, \"reference\": \"static\", \"models\": ["
        + model("static", false, 3, null) + ", " + model("stage0", false, 3, stageUnits) + ", "
        + model("dynamic", false, 5, dynamicUnits) + "], \"python_benchmark\": null}";
  }

  static final String CASCADE_UNITS = "[" + unit("stage0", "stage", "false") + ", "
      + unit("stage1", "stage", "true") + ", "
      + unit("stage1/stage1_block1", "block", "true") + ", "
      + unit("stage1/stage2_block1", "block", "true") + ", "
      + unit("stage1/stage3_block1", "block", "null") + "]";

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
  public void readsACascadesStageRolesAndDecisionUnits() throws ContractException {
    Manifest manifest = Manifest.parse(cascadeText(CASCADE_UNITS));
    assertEquals(Arrays.asList("static", "stage0", "dynamic"), manifest.modelNames());
    Manifest.Model cascade = manifest.model("dynamic");
    assertEquals(5, cascade.decisionUnits.size());
    assertEquals("stage1", cascade.decisionUnits.get(1).name);
    assertEquals("stage", cascade.decisionUnits.get(1).kind);
    assertEquals(Boolean.TRUE, cascade.decisionUnits.get(1).gated);
    assertEquals("stage1/stage2_block1", cascade.decisionUnits.get(3).name);
    assertNull(cascade.decisionUnits.get(4).gated);
    assertEquals("keras", cascade.decisionUnitsSource);
    assertEquals(2, cascade.countUnits(Manifest.DecisionUnit.STAGE));
    assertEquals("cascade: 2 stages, 3 blocks", cascade.describeUnits());
    assertEquals(5, cascade.checkContract().numBlocks);  // The contract counts gate columns.
    assertEquals(-1, cascade.stageIndex());
    Manifest.Model stage0 = manifest.model("stage0");
    assertEquals("stage0", stage0.role);
    assertEquals(0, stage0.stageIndex());
    assertEquals("3 blocks", stage0.describeUnits());
    // A manifest written before decision_units: no units, nothing to describe.
    Manifest.Model last = manifest.model("static");
    assertTrue(last.decisionUnits.isEmpty());
    assertNull(last.decisionUnitsSource);
    assertEquals("", last.describeUnits());
    assertEquals("static", Benchmark.defaultReference(manifest.modelNames()));
    assertEquals(12, Manifest.stageIndex("stage12"));
    assertEquals(-1, Manifest.stageIndex("stage"));
    assertEquals(-1, Manifest.stageIndex("stages"));
    assertEquals(-1, Manifest.stageIndex("static"));
  }

  @Test
  public void oldManifestsStillParseWithoutDecisionUnits() {
    for (Manifest.Model model : sample().models) {
      assertTrue(model.decisionUnits.isEmpty());
      assertEquals(-1, model.stageIndex());
    }
  }

  @Test
  public void rejectsDecisionUnitsThatDoNotMatchTheGateOutput() {
    String fourUnits = CASCADE_UNITS.substring(0, CASCADE_UNITS.lastIndexOf(", {")) + "]";
    IllegalArgumentException wrongCount = assertThrows(IllegalArgumentException.class,
        () -> Manifest.parse(cascadeText(fourUnits)));
    assertTrue(wrongCount.getMessage(), wrongCount.getMessage().contains(
        "models[dynamic].decision_units: 4 units, but the gate output has 5 columns"));
    String numberGated = CASCADE_UNITS.replace("\"gated\": true", "\"gated\": 1");
    IllegalArgumentException badGated = assertThrows(IllegalArgumentException.class,
        () -> Manifest.parse(cascadeText(numberGated)));
    assertTrue(badGated.getMessage(), badGated.getMessage().contains(".gated: expected true"));
    IllegalArgumentException noKind = assertThrows(IllegalArgumentException.class,
        () -> Manifest.parse(cascadeText(CASCADE_UNITS.replace("\"kind\": \"stage\", ", ""))));
    assertTrue(noKind.getMessage(), noKind.getMessage().contains("missing key \"kind\""));
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

  /** {@code dynamic} as a knob file: "serve_budget" recorded with 2 decisions. */
  static String knobManifestText(int numDecisions) {
    String knob = model("dynamic", false).replace("\"signature_keys\": [\"serve\"]",
        "\"signature_keys\": [\"serve\", \"serve_budget\"]");
    String outputs = knob.substring(knob.indexOf("\"outputs\": ") + "\"outputs\": ".length(),
        knob.indexOf(", \"num_if_ops\""));
    knob = knob.substring(0, knob.length() - 1) + ", \"budget_signature\": {\"inputs\": {"
        + "\"decisions\": {\"dtype\": \"float32\", \"shape\": [" + numDecisions + "]}, "
        + "\"image\": {\"dtype\": \"float32\", \"shape\": [1, 4, 5, 3]}}, \"outputs\": "
        + outputs + "}}";
    return "{\"kind\": \"lcnet-android-assets\", \"format\": 1, "
        + "\"images\": {\"file\": \"images.bin\", \"count\": 3, \"shape\": [4, 5, 3]}, "
        + "\"reference\": \"static\", \"models\": [" + model("static", false) + ", " + knob
        + "]}";
  }

  @Test
  public void aKnobFilesServeBudgetSignatureIsReadAndChecked() throws ContractException {
    Manifest manifest = Manifest.parse(knobManifestText(2));
    Manifest.Model dynamic = manifest.model("dynamic");
    assertTrue(dynamic.isKnobFile());
    assertFalse(manifest.model("static").isKnobFile());
    assertTrue(manifest.model("static").budgetInputs.isEmpty());
    assertEquals(Arrays.asList(2), Arrays.asList(dynamic.budgetInputs.get("decisions").dim(0)));
    ModelSignature signature = dynamic.checkKnobContract(BudgetKnobTest.knob());
    assertEquals(Arrays.asList("image", "decisions"), signature.inputsToSet());
    assertEquals(Arrays.asList("image"), dynamic.checkContract().inputsToSet());
    ContractException error = assertThrows(ContractException.class,
        () -> Manifest.parse(knobManifestText(1)).model("dynamic")
            .checkKnobContract(BudgetKnobTest.knob()));
    assertTrue(error.getMessage(), error.getMessage().contains("is not a (2,) float32 vector"));
  }
}
