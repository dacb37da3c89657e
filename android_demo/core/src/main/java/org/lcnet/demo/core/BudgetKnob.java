package org.lcnet.demo.core;

import static org.lcnet.demo.core.JsonFields.array;
import static org.lcnet.demo.core.JsonFields.expected;
import static org.lcnet.demo.core.JsonFields.finite;
import static org.lcnet.demo.core.JsonFields.get;
import static org.lcnet.demo.core.JsonFields.longInteger;
import static org.lcnet.demo.core.JsonFields.object;
import static org.lcnet.demo.core.JsonFields.string;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The budget knob of a knob file (docs/tflite_signature.md, "Budget knob files"): its
 * calibration table, read from the file's bytes, and the lookup budget -> decision values.
 *
 * <p>A knob file is one .tflite with a second signature, {@value ModelContract#KNOB_SIGNATURE_KEY}
 * (inputs {@code image} and {@code decisions}, float32 {@code [D]}), and the TFLite metadata
 * entry {@value #METADATA_NAME}, whose buffer holds the table as UTF-8 JSON. A file without the
 * entry is a plain file: {@link #find} returns null and the app runs its {@code serve} signature.
 *
 * <p>The lookup is the one rule Python ({@code lcnet_tf.budget_table.BudgetTable.lookup}, behind
 * {@code lcnet_tf.export.read_budget_table}) and the browser page follow: a budget within
 * {@value #ROW_TOLERANCE} of a row's budget gets that row exactly; between two rows the decisions
 * and the expected mean FLOPs are interpolated linearly, with Python's arithmetic ({@code a +
 * weight * (b - a)}, {@code weight = (budget - b0) / (b1 - b0)}: the same doubles); a budget
 * outside the rows' range (by more than the tolerance) or not finite is an error that names the
 * value and the range. tests/android_demo checks the lookups of a file Python exported against
 * Python's.
 *
 * <pre>{@code
 * BudgetKnob knob = BudgetKnob.find("dynamic.tflite", mappedModel);  // null: not a knob file
 * BudgetKnob.Setting setting = knob.lookup(0.35);
 * float[] decisions = setting.decisions();  // the "decisions" input of "serve_budget"
 * }</pre>
 */
public final class BudgetKnob {
  /** The name of the metadata entry that holds the table. */
  public static final String METADATA_NAME = "lcnet_budget_table";
  /** The table's {@code "format"}. */
  public static final String FORMAT = "lcnet_budget_table";
  /** The table version this reader knows. */
  public static final int VERSION = 1;
  /** A budget this close to a row's budget gets that row exactly (and bounds the range). */
  public static final double ROW_TOLERANCE = 1e-9;

  /** One calibrated budget: its decision values and the mean FLOPs they realized. */
  public static final class Row {
    /** A fraction of {@link BudgetKnob#referenceFlops}. */
    public final double budget;
    private final double[] decisions;
    /** Mean realized FLOPs per image on the table's calibration (training) images. */
    public final double meanFlops;

    Row(double budget, double[] decisions, double meanFlops) {
      this.budget = budget;
      this.decisions = decisions.clone();
      this.meanFlops = meanFlops;
    }

    /** The decision values, in the order of {@link BudgetKnob#decisionNames}. */
    public double[] decisions() {
      return decisions.clone();
    }
  }

  /** What {@link #lookup} returns for one budget. */
  public static final class Setting {
    /** The budget asked for. */
    public final double budget;
    private final double[] decisionValues;
    /** The mean FLOPs per image the decisions are expected to realize (interpolated). */
    public final double expectedFlops;
    /** Whether the budget is one of the table's rows (then the values are that row's). */
    public final boolean exact;
    /** Index of the row at or below the budget; with {@link #exact}, the row itself. */
    public final int lowerRow;

    Setting(double budget, double[] decisionValues, double expectedFlops, boolean exact,
        int lowerRow) {
      this.budget = budget;
      this.decisionValues = decisionValues;
      this.expectedFlops = expectedFlops;
      this.exact = exact;
      this.lowerRow = lowerRow;
    }

    /** The values for the {@code decisions} input (float32, rounded to nearest). */
    public float[] decisions() {
      float[] values = new float[decisionValues.length];
      for (int i = 0; i < values.length; i++) {
        values[i] = (float) decisionValues[i];
      }
      return values;
    }

    /** The decision values in double precision: equal to Python's {@code lookup}. */
    public double[] decisionValues() {
      return decisionValues.clone();
    }
  }

  /** The file the table was read from (named in messages). */
  public final String file;
  /** What each decision value is ({@code ["offset"]}, {@code ["threshold_0", ...]}). */
  public final List<String> decisionNames;
  /** What a budget is a fraction of: the reference network's FLOPs at width 1. */
  public final long referenceFlops;
  /** Calibration images behind every row's mean FLOPs. */
  public final int numImages;
  /** At least 2, by strictly increasing budget. */
  public final List<Row> rows;
  /** The decisions the model had when exported: what the image-only "serve" signature runs. */
  public final Row defaultRow;

  private BudgetKnob(String file, List<String> decisionNames, long referenceFlops, int numImages,
      List<Row> rows, Row defaultRow) {
    this.file = file;
    this.decisionNames = Collections.unmodifiableList(decisionNames);
    this.referenceFlops = referenceFlops;
    this.numImages = numImages;
    this.rows = Collections.unmodifiableList(rows);
    this.defaultRow = defaultRow;
  }

  // ---- reading ------------------------------------------------------------------------------

  /**
   * The knob of a .tflite file, or null when the file has no {@value #METADATA_NAME} entry (a
   * plain file: run its {@code serve} signature).
   *
   * @param file the file's name (for messages)
   * @param model the whole file, index 0 to its limit (LiteRT's memory-mapped buffer: its
   *     position and byte order are left alone)
   * @throws ContractException a corrupt flatbuffer, several entries of that name, or a
   *     malformed table; the message names the file and what is wrong
   */
  public static BudgetKnob find(String file, ByteBuffer model) throws ContractException {
    ByteBuffer data = null;
    for (TfliteMetadata.Entry entry : TfliteMetadata.read(file, model)) {
      if (!METADATA_NAME.equals(entry.name)) {
        continue;
      }
      if (data != null) {
        throw new ContractException(file + ": two \"" + METADATA_NAME + "\" metadata entries; a "
            + "knob file has one.");
      }
      data = entry.data;
      if (data.remaining() == 0) {
        throw new ContractException(file + ": the \"" + METADATA_NAME + "\" metadata entry's "
            + "buffer " + entry.buffer + " is empty.");
      }
    }
    if (data == null) {
      return null;
    }
    try {
      CharBuffer text = StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(data);
      return parse(file, text.toString());
    } catch (CharacterCodingException e) {
      throw new ContractException(where(file) + ": not UTF-8 text (" + e + ").");
    }
  }

  /** {@link #find} on the bytes of a file. */
  public static BudgetKnob find(String file, byte[] model) throws ContractException {
    return find(file, ByteBuffer.wrap(model));
  }

  /**
   * The knob of a knob file.
   *
   * @throws ContractException as {@link #find}, and when the file is not a knob file
   */
  public static BudgetKnob read(String file, ByteBuffer model) throws ContractException {
    BudgetKnob knob = find(file, model);
    if (knob == null) {
      throw new ContractException(file + " is not a knob file: it has no \"" + METADATA_NAME
          + "\" metadata entry (export it with lcnet_tf.export.to_tflite(model, path, "
          + "budget_table=table)); run its \"" + ModelContract.SIGNATURE_KEY + "\" signature.");
    }
    return knob;
  }

  /** {@link #read} on the bytes of a file. */
  public static BudgetKnob read(String file, byte[] model) throws ContractException {
    return read(file, ByteBuffer.wrap(model));
  }

  /**
   * Parses and checks the JSON of a {@value #METADATA_NAME} entry: format, version 1, the
   * signature and input the app calls, at least one decision name, rows (at least 2, by strictly
   * increasing budget) and the default row, each with one finite value per decision name.
   *
   * @param file the file it came from (for messages)
   * @throws ContractException naming the file and the field
   */
  public static BudgetKnob parse(String file, String json) throws ContractException {
    String where = where(file);
    try {
      JsonObject root;
      try {
        root = object(JsonParser.parseString(json), "the table");
      } catch (JsonParseException e) {
        Throwable cause = e.getCause() != null ? e.getCause() : e;
        throw new IllegalArgumentException("invalid JSON: " + cause.getMessage(), e);
      }
      JsonElement format = root.get("format");
      if (!JsonFields.isString(format) || !FORMAT.equals(format.getAsString())) {
        throw expected("format", "\"" + FORMAT + "\"", format);
      }
      long version = longInteger(get(root, "version", "the table"), "version");
      if (version != VERSION) {
        throw new IllegalArgumentException("version " + version + " is not supported (this app "
            + "reads version " + VERSION + ").");
      }
      requireName(root, "signature", ModelContract.KNOB_SIGNATURE_KEY);
      requireName(root, "input", ModelContract.DECISIONS_INPUT);
      List<String> names = new ArrayList<>();
      JsonArray nameArray = array(get(root, "decision_names", "the table"), "decision_names");
      for (int i = 0; i < nameArray.size(); i++) {
        String name = string(nameArray.get(i), "decision_names[" + i + "]");
        if (name.isEmpty()) {
          throw expected("decision_names[" + i + "]", "a non-empty string", nameArray.get(i));
        }
        names.add(name);
      }
      if (names.isEmpty()) {
        throw expected("decision_names", "one or more names", nameArray);
      }
      long referenceFlops =
          longInteger(get(root, "reference_flops", "the table"), "reference_flops");
      if (referenceFlops <= 0) {
        throw expected("reference_flops", "a positive integer", root.get("reference_flops"));
      }
      long numImages = longInteger(get(root, "num_images", "the table"), "num_images");
      if (numImages < 1 || numImages > Integer.MAX_VALUE) {
        throw expected("num_images", "a positive integer", root.get("num_images"));
      }
      JsonArray rowArray = array(get(root, "rows", "the table"), "rows");
      if (rowArray.size() < 2) {
        throw new IllegalArgumentException("rows: expected at least 2 rows (a knob needs a "
            + "range), got " + rowArray.size() + ".");
      }
      List<Row> rows = new ArrayList<>();
      for (int i = 0; i < rowArray.size(); i++) {
        Row row = row(rowArray.get(i), "rows[" + i + "]", names.size());
        if (i > 0 && !(row.budget > rows.get(i - 1).budget)) {
          throw new IllegalArgumentException("rows: expected strictly increasing budgets, got "
              + "rows[" + (i - 1) + "].budget = " + rows.get(i - 1).budget + " and rows[" + i
              + "].budget = " + row.budget + ".");
        }
        rows.add(row);
      }
      Row defaultRow = row(get(root, "default", "the table"), "default", names.size());
      return new BudgetKnob(file, names, referenceFlops, (int) numImages, rows, defaultRow);
    } catch (IllegalArgumentException e) {
      throw new ContractException(where + ": " + e.getMessage());
    }
  }

  private static String where(String file) {
    return file + ": the \"" + METADATA_NAME + "\" table";
  }

  private static void requireName(JsonObject root, String key, String expected) {
    JsonElement value = get(root, key, "the table");
    if (!JsonFields.isString(value) || !expected.equals(value.getAsString())) {
      throw expected(key, "\"" + expected + "\" (the name this app calls)", value);
    }
  }

  private static Row row(JsonElement value, String what, int numDecisions) {
    JsonObject row = object(value, what);
    double budget = finite(get(row, "budget", what), what + ".budget");
    JsonArray values = array(get(row, "decisions", what), what + ".decisions");
    if (values.size() != numDecisions) {
      throw expected(what + ".decisions", numDecisions + " value(s), one per decision_names",
          values);
    }
    double[] decisions = new double[numDecisions];
    for (int k = 0; k < numDecisions; k++) {
      decisions[k] = finite(values.get(k), what + ".decisions[" + k + "]");
    }
    return new Row(budget, decisions, finite(get(row, "mean_flops", what), what + ".mean_flops"));
  }

  // ---- the knob -----------------------------------------------------------------------------

  /** The lowest budget the table covers ({@code rows[0].budget}). */
  public double minBudget() {
    return rows.get(0).budget;
  }

  /** The highest budget the table covers ({@code rows[-1].budget}). */
  public double maxBudget() {
    return rows.get(rows.size() - 1).budget;
  }

  /** D: the length of the {@code decisions} input. */
  public int numDecisions() {
    return decisionNames.size();
  }

  /** Whether {@link #lookup} accepts {@code budget}. */
  public boolean covers(double budget) {
    return Double.isFinite(budget) && budget >= minBudget() - ROW_TOLERANCE
        && budget <= maxBudget() + ROW_TOLERANCE;
  }

  /**
   * The decisions for {@code budget} (docs/tflite_signature.md, "Lookup").
   *
   * @param budget a fraction of {@link #referenceFlops}, in [{@link #minBudget}, {@link
   *     #maxBudget}]
   * @throws IllegalArgumentException the budget is not finite or outside that range; the
   *     message names the value and the range
   */
  public Setting lookup(double budget) {
    if (!covers(budget)) {
      throw new IllegalArgumentException("Invalid value for budget: expected a number in ["
          + Fmt.fixed(minBudget(), 4) + ", " + Fmt.fixed(maxBudget(), 4) + "] (the budgets "
          + file + "'s table was calibrated for, as fractions of "
          + String.format(Locale.ROOT, "%,d", referenceFlops) + " reference FLOPs). Received: "
          + budget);
    }
    for (int i = 0; i < rows.size(); i++) {
      Row row = rows.get(i);
      if (Math.abs(row.budget - budget) <= ROW_TOLERANCE) {
        return new Setting(budget, row.decisions.clone(), row.meanFlops, true, i);
      }
    }
    int upper = 1;
    while (!(rows.get(upper).budget > budget)) {
      upper++;
    }
    Row below = rows.get(upper - 1);
    Row above = rows.get(upper);
    // Python's arithmetic, operation for operation: the same doubles.
    double weight = (budget - below.budget) / (above.budget - below.budget);
    double[] decisions = new double[below.decisions.length];
    for (int k = 0; k < decisions.length; k++) {
      decisions[k] = below.decisions[k] + weight * (above.decisions[k] - below.decisions[k]);
    }
    double flops = below.meanFlops + weight * (above.meanFlops - below.meanFlops);
    return new Setting(budget, decisions, flops, false, upper - 1);
  }

  /**
   * The knob in a few words, for the list of models: {@code "budget knob 0.300 to 0.600, 3
   * calibrated rows (offset)"}.
   */
  public String summary() {
    return "budget knob " + Fmt.fixed(minBudget(), 3) + " to " + Fmt.fixed(maxBudget(), 3) + ", "
        + rows.size() + " calibrated rows (" + String.join(", ", decisionNames) + ")";
  }

  /**
   * What a setting means, in one line for the slider: {@code "budget 0.350 (14.19 of 40.56
   * reference MFLOPs expected): offset -0.1234; between the calibrated budgets 0.300 and
   * 0.400"}.
   */
  public String describe(Setting setting) {
    StringBuilder text = new StringBuilder("budget ").append(Fmt.fixed(setting.budget, 3))
        .append(" (").append(Fmt.fixed(setting.expectedFlops / 1e6, 2)).append(" of ")
        .append(Fmt.fixed(referenceFlops / 1e6, 2)).append(" reference MFLOPs expected): ");
    for (int k = 0; k < decisionNames.size(); k++) {
      text.append(k > 0 ? ", " : "").append(decisionNames.get(k)).append(' ')
          .append(Fmt.fixed(setting.decisionValues[k], 4));
    }
    if (setting.exact) {
      text.append("; calibrated row ").append(setting.lowerRow + 1).append(" of ")
          .append(rows.size());
    } else {
      text.append("; between the calibrated budgets ")
          .append(Fmt.fixed(rows.get(setting.lowerRow).budget, 3)).append(" and ")
          .append(Fmt.fixed(rows.get(setting.lowerRow + 1).budget, 3));
    }
    return text.toString();
  }

  /**
   * A setting for report.json: {@code budget}, {@code decisions} (name -> value), {@code
   * expected_flops}, {@code exact}, the file's {@code reference_flops} and the signature run.
   */
  public Map<String, Object> toJson(Setting setting) {
    Map<String, Object> decisions = new LinkedHashMap<>();
    for (int k = 0; k < decisionNames.size(); k++) {
      decisions.put(decisionNames.get(k), setting.decisionValues[k]);
    }
    Map<String, Object> entry = new LinkedHashMap<>();
    entry.put("file", file);
    entry.put("signature", ModelContract.KNOB_SIGNATURE_KEY);
    entry.put("budget", setting.budget);
    entry.put("decisions", decisions);
    entry.put("expected_flops", setting.expectedFlops);
    entry.put("exact", setting.exact);
    entry.put("reference_flops", referenceFlops);
    entry.put("calibration_images", numImages);
    return entry;
  }
}
