package org.lcnet.demo.core;

import static org.lcnet.demo.core.JsonFields.array;
import static org.lcnet.demo.core.JsonFields.expected;
import static org.lcnet.demo.core.JsonFields.get;
import static org.lcnet.demo.core.JsonFields.integer;
import static org.lcnet.demo.core.JsonFields.isString;
import static org.lcnet.demo.core.JsonFields.object;
import static org.lcnet.demo.core.JsonFields.present;
import static org.lcnet.demo.core.JsonFields.string;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code manifest.json} of the app's assets, written by {@code python -m tflite.android_assets}
 * ({@code lcnet_tf.apps.android_assets.write_android_assets}): the models, the image set, the
 * reference row and what the Python benchmark measured on the same files and images.
 *
 * <p>Each model may name its decision units, the columns of its {@code gate} output
 * ({@code decision_units}: a gated network's blocks; a cascade's stages, then the blocks of its
 * gated stages). Manifests written before that field existed are read as before: no units.
 *
 * <p>Read with Gson's {@link JsonParser}, which is lenient: {@code NaN} and {@code Infinity}, which
 * Python's {@code json} writes, are accepted (Gson keeps them as the strings "NaN", "Infinity").
 */
public final class Manifest {
  public static final String FILE_NAME = "manifest.json";
  public static final String KIND = "lcnet-android-assets";
  public static final int FORMAT = 1;

  /** One column of a model's {@code gate} output: Python's {@code model.decision_units()}. */
  public static final class DecisionUnit {
    public static final String STAGE = "stage";
    public static final String BLOCK = "block";

    /** E.g. {@code stage1}, {@code stage1/stage2_block1}, {@code stage1_block1}, {@code unit3}. */
    public final String name;
    /** {@code "stage"}, {@code "block"}, or {@code "unit"} (generic: the model was unknown). */
    public final String kind;
    /** Whether it decides per image; null when unknown. */
    public final Boolean gated;

    DecisionUnit(String name, String kind, Boolean gated) {
      this.name = name;
      this.kind = kind;
      this.gated = gated;
    }
  }

  /** One model file, with the signature Python read from it. */
  public static final class Model {
    public final String name;
    public final String role;
    public final String precision;
    /** Path inside the assets directory, e.g. {@code models/dynamic.tflite}. */
    public final String file;
    public final List<String> signatureKeys;
    public final Map<String, TensorSpec> inputs;
    public final Map<String, TensorSpec> outputs;
    public final int numIfOps;
    /** One per column of {@code gate}; empty when the manifest does not name them. */
    public final List<DecisionUnit> decisionUnits;
    /** Where the names come from: {@code "keras"}, {@code "generic"}, or null (not given). */
    public final String decisionUnitsSource;
    /**
     * A knob file's "serve_budget" inputs and outputs as LiteRT reported them to Python ({@code
     * budget_signature}); empty for a plain file and in older manifests. The app reads the
     * table itself from the file ({@link BudgetKnob#find}).
     */
    public final Map<String, TensorSpec> budgetInputs;
    public final Map<String, TensorSpec> budgetOutputs;

    Model(String name, String role, String precision, String file, List<String> signatureKeys,
        Map<String, TensorSpec> inputs, Map<String, TensorSpec> outputs, int numIfOps,
        List<DecisionUnit> decisionUnits, String decisionUnitsSource,
        Map<String, TensorSpec> budgetInputs, Map<String, TensorSpec> budgetOutputs) {
      this.name = name;
      this.role = role;
      this.precision = precision;
      this.file = file;
      this.signatureKeys = Collections.unmodifiableList(signatureKeys);
      this.inputs = Collections.unmodifiableMap(inputs);
      this.outputs = Collections.unmodifiableMap(outputs);
      this.numIfOps = numIfOps;
      this.decisionUnits = Collections.unmodifiableList(decisionUnits);
      this.decisionUnitsSource = decisionUnitsSource;
      this.budgetInputs = Collections.unmodifiableMap(budgetInputs);
      this.budgetOutputs = Collections.unmodifiableMap(budgetOutputs);
    }

    /** Whether Python found a "serve_budget" signature in the file. */
    public boolean isKnobFile() {
      return signatureKeys.contains(ModelContract.KNOB_SIGNATURE_KEY);
    }

    /** A cascade's stage index for the roles {@code stage<i>} (its first stages), else -1. */
    public int stageIndex() {
      return Manifest.stageIndex(role);
    }

    /** Number of decision units of {@code kind} ({@code "stage"}, {@code "block"}). */
    public int countUnits(String kind) {
      int count = 0;
      for (DecisionUnit unit : decisionUnits) {
        count += unit.kind.equals(kind) ? 1 : 0;
      }
      return count;
    }

    /**
     * What its gate columns are, for a list of models: "cascade: 2 stages, 3 blocks",
     * "9 blocks", "5 decision units" (generic names), or "" when the manifest does not say.
     */
    public String describeUnits() {
      if (decisionUnits.isEmpty()) {
        return "";
      }
      int stages = countUnits(DecisionUnit.STAGE);
      int blocks = countUnits(DecisionUnit.BLOCK);
      if (stages > 0) {
        return "cascade: " + stages + " stages" + (blocks > 0 ? ", " + blocks + " blocks" : "");
      }
      if (blocks == decisionUnits.size()) {
        return blocks + " blocks";
      }
      return decisionUnits.size() + " decision units";
    }

    /** The contract check on the signature Python recorded (the app re-checks the real file). */
    public ModelSignature checkContract() throws ContractException {
      return ModelContract.check(file, signatureKeys, inputs, outputs);
    }

    /** The knob contract on the "serve_budget" signature Python recorded and the file's table. */
    public ModelSignature checkKnobContract(BudgetKnob knob) throws ContractException {
      return ModelContract.checkKnob(file, signatureKeys, budgetInputs, budgetOutputs, knob);
    }
  }

  public final String imagesFile;
  public final int imageCount;
  public final List<String> classNames;
  public final String reference;
  public final List<Model> models;
  /** The table {@code format_table} printed for the same files and images, or null. */
  public final String pythonTable;
  /** Python's benchmark section (summary, settings, machine), or null. */
  public final JsonObject pythonBenchmark;
  public final JsonObject metadata;

  private Manifest(String imagesFile, int imageCount, List<String> classNames, String reference,
      List<Model> models, String pythonTable, JsonObject pythonBenchmark, JsonObject metadata) {
    this.imagesFile = imagesFile;
    this.imageCount = imageCount;
    this.classNames = classNames;
    this.reference = reference;
    this.models = Collections.unmodifiableList(models);
    this.pythonTable = pythonTable;
    this.pythonBenchmark = pythonBenchmark;
    this.metadata = metadata;
  }

  /** Parses and checks the manifest; messages name the field that is wrong. */
  public static Manifest parse(String text) {
    JsonObject root;
    try {
      root = object(JsonParser.parseString(text), FILE_NAME);
    } catch (JsonParseException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw new IllegalArgumentException(FILE_NAME + ": invalid JSON: " + cause.getMessage(), e);
    }
    JsonElement kind = root.get("kind");
    if (!new JsonPrimitive(KIND).equals(kind)) {
      throw new IllegalArgumentException(FILE_NAME + ": \"kind\" is " + kind + ", expected \""
          + KIND + "\" (write the assets with python -m tflite.android_assets).");
    }
    int format = integer(get(root, "format", FILE_NAME), FILE_NAME + ".format");
    if (format != FORMAT) {
      throw new IllegalArgumentException(FILE_NAME + ": format " + format + " is not supported "
          + "(this app reads format " + FORMAT + ").");
    }
    JsonObject images = object(get(root, "images", FILE_NAME), "images");
    String imagesFile = string(get(images, "file", "images"), "images.file");
    int count = integer(get(images, "count", "images"), "images.count");
    List<String> classNames = null;
    if (present(root.get("class_names"))) {
      classNames = new ArrayList<>();
      for (JsonElement name : array(root.get("class_names"), "class_names")) {
        classNames.add(string(name, "class_names[]"));
      }
    }
    List<Model> models = new ArrayList<>();
    for (JsonElement item : array(get(root, "models", FILE_NAME), "models")) {
      JsonObject entry = object(item, "models[]");
      String name = string(get(entry, "name", "models[]"), "models[].name");
      String what = "models[" + name + "]";
      List<String> keys = new ArrayList<>();
      for (JsonElement key : array(get(entry, "signature_keys", what), what)) {
        keys.add(string(key, what + ".signature_keys[]"));
      }
      Map<String, TensorSpec> outputs = tensorSpecs(get(entry, "outputs", what),
          what + ".outputs");
      List<DecisionUnit> units = decisionUnits(entry.get("decision_units"),
          what + ".decision_units", outputs.get(ModelContract.GATE));
      String unitsSource = present(entry.get("decision_units_source"))
          ? string(entry.get("decision_units_source"), what + ".decision_units_source") : null;
      Map<String, TensorSpec> budgetInputs = new LinkedHashMap<>();
      Map<String, TensorSpec> budgetOutputs = new LinkedHashMap<>();
      if (present(entry.get("budget_signature"))) {
        JsonObject budget = object(entry.get("budget_signature"), what + ".budget_signature");
        budgetInputs = tensorSpecs(get(budget, "inputs", what + ".budget_signature"),
            what + ".budget_signature.inputs");
        budgetOutputs = tensorSpecs(get(budget, "outputs", what + ".budget_signature"),
            what + ".budget_signature.outputs");
      }
      models.add(new Model(name, string(get(entry, "role", what), what + ".role"),
          string(get(entry, "precision", what), what + ".precision"),
          string(get(entry, "file", what), what + ".file"), keys,
          tensorSpecs(get(entry, "inputs", what), what + ".inputs"), outputs,
          integer(get(entry, "num_if_ops", what), what + ".num_if_ops"), units, unitsSource,
          budgetInputs, budgetOutputs));
    }
    if (models.isEmpty()) {
      throw new IllegalArgumentException(FILE_NAME + ": no models.");
    }
    String reference = string(get(root, "reference", FILE_NAME), "reference");
    JsonObject python = null;
    String pythonTable = null;
    if (present(root.get("python_benchmark"))) {
      python = object(root.get("python_benchmark"), "python_benchmark");
      pythonTable = string(get(python, "table", "python_benchmark"), "python_benchmark.table");
    }
    JsonObject metadata = present(root.get("metadata"))
        ? object(root.get("metadata"), "metadata") : new JsonObject();
    return new Manifest(imagesFile, count, classNames, reference, models, pythonTable, python,
        metadata);
  }

  /**
   * The optional {@code decision_units} list: one {@code {name, kind, gated}} per column of the
   * {@code gate} output (its last dimension, when the output is there); empty when absent.
   */
  private static List<DecisionUnit> decisionUnits(JsonElement value, String what,
      TensorSpec gate) {
    List<DecisionUnit> units = new ArrayList<>();
    if (!present(value)) {
      return units;
    }
    for (JsonElement item : array(value, what)) {
      JsonObject unit = object(item, what + "[]");
      String name = string(get(unit, "name", what + "[]"), what + "[].name");
      JsonElement gated = unit.get("gated");
      Boolean isGated = null;
      if (present(gated)) {
        if (!gated.isJsonPrimitive() || !gated.getAsJsonPrimitive().isBoolean()) {
          throw expected(what + "[" + name + "].gated", "true, false or null", gated);
        }
        isGated = gated.getAsBoolean();
      }
      units.add(new DecisionUnit(name,
          string(get(unit, "kind", what + "[" + name + "]"), what + "[" + name + "].kind"),
          isGated));
    }
    int[] shape = gate == null ? null : gate.shape();
    if (shape != null && shape.length > 0 && shape[shape.length - 1] != units.size()) {
      throw new IllegalArgumentException(what + ": " + units.size() + " units, but the gate "
          + "output has " + shape[shape.length - 1] + " columns.");
    }
    return units;
  }

  /** {@code "stage2"} -> 2 (a cascade's first stages are the roles stage<i>); else -1. */
  public static int stageIndex(String role) {
    if (role == null || !role.startsWith("stage") || role.length() == "stage".length()
        || role.length() > "stage".length() + 6) {
      return -1;
    }
    for (int i = "stage".length(); i < role.length(); i++) {
      if (role.charAt(i) < '0' || role.charAt(i) > '9') {
        return -1;
      }
    }
    return Integer.parseInt(role.substring("stage".length()));
  }

  private static Map<String, TensorSpec> tensorSpecs(JsonElement value, String what) {
    Map<String, TensorSpec> specs = new LinkedHashMap<>();
    for (Map.Entry<String, JsonElement> entry : object(value, what).entrySet()) {
      JsonObject spec = object(entry.getValue(), what + "." + entry.getKey());
      JsonArray shape = array(get(spec, "shape", what), what + ".shape");
      int[] dims = new int[shape.size()];
      for (int i = 0; i < dims.length; i++) {
        dims[i] = integer(shape.get(i), what + ".shape[" + i + "]");
      }
      specs.put(entry.getKey(), new TensorSpec(entry.getKey(),
          string(get(spec, "dtype", what), what + ".dtype"), dims));
    }
    return specs;
  }

  /** Model names in manifest order. */
  public List<String> modelNames() {
    List<String> names = new ArrayList<>();
    for (Model model : models) {
      names.add(model.name);
    }
    return names;
  }

  /** The model called {@code name}, or null. */
  public Model model(String name) {
    for (Model model : models) {
      if (model.name.equals(name)) {
        return model;
      }
    }
    return null;
  }

  /** The converter's TensorFlow version as recorded by Python, or null. */
  public String converterVersion() {
    JsonElement converter = metadata.get("tensorflow");
    return isString(converter) ? converter.getAsString() : null;
  }
}
