package org.lcnet.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code manifest.json} of the app's assets, written by {@code python -m tflite.android_assets}
 * ({@code lcnet_tf.export.android_assets.write_android_assets}): the models, the image set, the
 * reference row and what the Python benchmark measured on the same files and images.
 */
public final class Manifest {
  public static final String FILE_NAME = "manifest.json";
  public static final String KIND = "lcnet-android-assets";
  public static final int FORMAT = 1;

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

    Model(String name, String role, String precision, String file, List<String> signatureKeys,
        Map<String, TensorSpec> inputs, Map<String, TensorSpec> outputs, int numIfOps) {
      this.name = name;
      this.role = role;
      this.precision = precision;
      this.file = file;
      this.signatureKeys = Collections.unmodifiableList(signatureKeys);
      this.inputs = Collections.unmodifiableMap(inputs);
      this.outputs = Collections.unmodifiableMap(outputs);
      this.numIfOps = numIfOps;
    }

    /** The contract check on the signature Python recorded (the app re-checks the real file). */
    public ModelSignature checkContract() throws ContractException {
      return ModelContract.check(file, signatureKeys, inputs, outputs);
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
  public final Map<String, Object> pythonBenchmark;
  public final Map<String, Object> metadata;

  private Manifest(String imagesFile, int imageCount, List<String> classNames, String reference,
      List<Model> models, String pythonTable, Map<String, Object> pythonBenchmark,
      Map<String, Object> metadata) {
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
    Map<String, Object> root = Json.asObject(Json.parse(text), FILE_NAME);
    Object kind = root.get("kind");
    if (!KIND.equals(kind)) {
      throw new IllegalArgumentException(FILE_NAME + ": \"kind\" is " + kind + ", expected \""
          + KIND + "\" (write the assets with python -m tflite.android_assets).");
    }
    int format = Json.asInt(Json.get(root, "format", FILE_NAME), FILE_NAME + ".format");
    if (format != FORMAT) {
      throw new IllegalArgumentException(FILE_NAME + ": format " + format + " is not supported "
          + "(this app reads format " + FORMAT + ").");
    }
    Map<String, Object> images = Json.asObject(Json.get(root, "images", FILE_NAME), "images");
    String imagesFile = Json.asString(Json.get(images, "file", "images"), "images.file");
    int count = Json.asInt(Json.get(images, "count", "images"), "images.count");
    List<String> classNames = null;
    Object names = root.get("class_names");
    if (names != null) {
      classNames = new ArrayList<>();
      for (Object name : Json.asArray(names, "class_names")) {
        classNames.add(Json.asString(name, "class_names[]"));
      }
    }
    List<Model> models = new ArrayList<>();
    for (Object item : Json.asArray(Json.get(root, "models", FILE_NAME), "models")) {
      Map<String, Object> entry = Json.asObject(item, "models[]");
      String name = Json.asString(Json.get(entry, "name", "models[]"), "models[].name");
      String what = "models[" + name + "]";
      List<String> keys = new ArrayList<>();
      for (Object key : Json.asArray(Json.get(entry, "signature_keys", what), what)) {
        keys.add(Json.asString(key, what + ".signature_keys[]"));
      }
      models.add(new Model(name, Json.asString(Json.get(entry, "role", what), what + ".role"),
          Json.asString(Json.get(entry, "precision", what), what + ".precision"),
          Json.asString(Json.get(entry, "file", what), what + ".file"), keys,
          tensorSpecs(Json.get(entry, "inputs", what), what + ".inputs"),
          tensorSpecs(Json.get(entry, "outputs", what), what + ".outputs"),
          Json.asInt(Json.get(entry, "num_if_ops", what), what + ".num_if_ops")));
    }
    if (models.isEmpty()) {
      throw new IllegalArgumentException(FILE_NAME + ": no models.");
    }
    String reference = Json.asString(Json.get(root, "reference", FILE_NAME), "reference");
    Map<String, Object> python = null;
    String pythonTable = null;
    Object benchmark = root.get("python_benchmark");
    if (benchmark != null) {
      python = Json.asObject(benchmark, "python_benchmark");
      pythonTable = Json.asString(Json.get(python, "table", "python_benchmark"),
          "python_benchmark.table");
    }
    Map<String, Object> metadata = root.get("metadata") == null ? new LinkedHashMap<>()
        : Json.asObject(root.get("metadata"), "metadata");
    return new Manifest(imagesFile, count, classNames, reference, models, pythonTable, python,
        metadata);
  }

  private static Map<String, TensorSpec> tensorSpecs(Object value, String what) {
    Map<String, TensorSpec> specs = new LinkedHashMap<>();
    for (Map.Entry<String, Object> entry : Json.asObject(value, what).entrySet()) {
      Map<String, Object> spec = Json.asObject(entry.getValue(), what + "." + entry.getKey());
      specs.put(entry.getKey(), new TensorSpec(entry.getKey(),
          Json.asString(Json.get(spec, "dtype", what), what + ".dtype"),
          Json.asIntArray(Json.get(spec, "shape", what), what + ".shape")));
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
    Object converter = metadata.get("tensorflow");
    return converter instanceof String ? (String) converter : null;
  }
}
