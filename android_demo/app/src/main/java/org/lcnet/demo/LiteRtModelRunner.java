package org.lcnet.demo;

import android.content.res.AssetFileDescriptor;
import android.content.res.AssetManager;
import java.io.FileInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.lcnet.demo.core.BudgetKnob;
import org.lcnet.demo.core.ContractException;
import org.lcnet.demo.core.ImageSet;
import org.lcnet.demo.core.ModelContract;
import org.lcnet.demo.core.ModelOutputs;
import org.lcnet.demo.core.ModelRunner;
import org.lcnet.demo.core.ModelSignature;
import org.lcnet.demo.core.TensorSpec;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;

/**
 * {@link ModelRunner} on LiteRT's {@code Interpreter}: the "serve" signature, or a knob file's
 * "serve_budget" with the decisions of one budget, run by name with buffers allocated once.
 * Everything else (contract, knob table and lookup, protocol, timing, statistics) is in the core.
 */
final class LiteRtModelRunner implements ModelRunner {
  /** A model that LiteRT cannot load or that breaks the contract; the message is for the user. */
  static final class LoadException extends Exception {
    private static final long serialVersionUID = 1L;

    LoadException(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private final Interpreter interpreter;
  private final String file;
  private final String runtime;
  private final String converterVersion;
  private final ModelSignature signature;
  private final ByteBuffer image;
  private final ByteBuffer force;
  private final ByteBuffer decisions;
  private final float[] decisionValues;
  private final Map<String, Object> inputs = new HashMap<>();
  private final Map<String, Object> outputs = new HashMap<>();
  private final ByteBuffer logits;
  private final ByteBuffer gate;
  private final ByteBuffer keptGroups;
  private final ByteBuffer realizedFlops;

  private LiteRtModelRunner(Interpreter interpreter, ModelSignature signature,
      Map<String, TensorSpec> outputSpecs, String converterVersion, float[] decisionValues) {
    this.interpreter = interpreter;
    this.file = signature.file;
    this.runtime = "LiteRT " + BuildConfig.LITERT_VERSION;
    this.converterVersion = converterVersion;
    this.signature = signature;
    image = direct(signature.image.numBytes());
    inputs.put(ModelContract.IMAGE_INPUT, image);
    if (signature.hasForceInput) {
      // Set on every run: an unset input holds whatever memory it got.
      force = direct(4);
      inputs.put(ModelContract.FORCE_INPUT, force);
    } else {
      force = null;
    }
    if (signature.takesDecisions()) {
      // The budget's decisions, set on every run like force_gates_open.
      this.decisionValues = signature.checkDecisions(decisionValues).clone();
      decisions = direct(4 * this.decisionValues.length);
      inputs.put(ModelContract.DECISIONS_INPUT, decisions);
    } else {
      this.decisionValues = null;
      decisions = null;
    }
    logits = direct(outputSpecs.get(ModelContract.LOGITS).numBytes());
    gate = direct(outputSpecs.get(ModelContract.GATE).numBytes());
    keptGroups = direct(outputSpecs.get(ModelContract.KEPT_GROUPS).numBytes());
    realizedFlops = direct(outputSpecs.get(ModelContract.REALIZED_FLOPS).numBytes());
    outputs.put(ModelContract.LOGITS, logits);
    outputs.put(ModelContract.GATE, gate);
    outputs.put(ModelContract.KEPT_GROUPS, keptGroups);
    outputs.put(ModelContract.REALIZED_FLOPS, realizedFlops);
  }

  private static ByteBuffer direct(int bytes) {
    return ByteBuffer.allocateDirect(bytes).order(ByteOrder.nativeOrder());
  }

  /**
   * Memory-maps {@code file} from the APK's assets (stored uncompressed: noCompress "tflite"),
   * as LiteRT and {@link BudgetKnob#find} read it.
   *
   * @throws LoadException with a message naming the file
   */
  static MappedByteBuffer map(AssetManager assets, String file) throws LoadException {
    try (AssetFileDescriptor descriptor = assets.openFd(file);
        FileInputStream stream = new FileInputStream(descriptor.getFileDescriptor())) {
      return stream.getChannel().map(FileChannel.MapMode.READ_ONLY,
          descriptor.getStartOffset(), descriptor.getDeclaredLength());
    } catch (IOException e) {
      throw new LoadException(file + " cannot be read from the APK's assets (written by python "
          + "-m tflite.android_assets?): " + e.getMessage(), e);
    }
  }

  /** The file's "serve" signature (the decisions it was exported with). */
  static LiteRtModelRunner open(AssetManager assets, String file, int threads, boolean xnnpack,
      String converterVersion) throws LoadException {
    return open(assets, file, null, null, threads, xnnpack, converterVersion);
  }

  /**
   * Opens {@code file} and checks the signature it will run against the contract: "serve" when
   * {@code setting} is null, else the knob file's "serve_budget" with {@code setting}'s
   * decisions ({@link org.lcnet.demo.core.RunPlan.Entry}: {@code knob}, {@code setting}).
   *
   * @param knob the file's table ({@link BudgetKnob#find}); null with a null setting
   * @param setting the budget's decisions ({@link BudgetKnob#lookup}), or null for "serve"
   * @throws LoadException with a message naming the file and what went wrong
   */
  static LiteRtModelRunner open(AssetManager assets, String file, BudgetKnob knob,
      BudgetKnob.Setting setting, int threads, boolean xnnpack, String converterVersion)
      throws LoadException {
    MappedByteBuffer model = map(assets, file);
    String key = setting == null ? ModelContract.SIGNATURE_KEY : ModelContract.KNOB_SIGNATURE_KEY;
    Interpreter interpreter;
    try {
      Interpreter.Options options =
          new Interpreter.Options().setNumThreads(threads).setUseXNNPACK(xnnpack);
      interpreter = new Interpreter(model, options);
    } catch (RuntimeException e) {
      throw new LoadException(org.lcnet.demo.core.LoadErrors.describe(file, e,
          "LiteRT " + BuildConfig.LITERT_VERSION, converterVersion), e);
    }
    try {
      Map<String, TensorSpec> inputSpecs = new LinkedHashMap<>();
      Map<String, TensorSpec> outputSpecs = new LinkedHashMap<>();
      String[] keys = interpreter.getSignatureKeys();
      if (Arrays.asList(keys).contains(key)) {
        for (String name : interpreter.getSignatureInputs(key)) {
          inputSpecs.put(name, spec(name, interpreter.getInputTensorFromSignature(name, key)));
        }
        for (String name : interpreter.getSignatureOutputs(key)) {
          outputSpecs.put(name, spec(name, interpreter.getOutputTensorFromSignature(name, key)));
        }
      }
      ModelSignature signature = setting == null
          ? ModelContract.check(file, Arrays.asList(keys), inputSpecs, outputSpecs)
          : ModelContract.checkKnob(file, Arrays.asList(keys), inputSpecs, outputSpecs, knob);
      interpreter.allocateTensors();  // Kernels are prepared here: fail now, not mid-run.
      return new LiteRtModelRunner(interpreter, signature, outputSpecs, converterVersion,
          setting == null ? null : setting.decisions());
    } catch (ContractException e) {
      interpreter.close();
      throw new LoadException(e.getMessage(), e);
    } catch (RuntimeException e) {
      interpreter.close();
      throw new LoadException(org.lcnet.demo.core.LoadErrors.describe(file, e,
          "LiteRT " + BuildConfig.LITERT_VERSION, converterVersion), e);
    }
  }

  private static TensorSpec spec(String name, Tensor tensor) {
    // DataType FLOAT32 -> "float32", UINT8 -> "uint8": the names Python's NumPy uses.
    return new TensorSpec(name, tensor.dataType().name().toLowerCase(Locale.ROOT),
        tensor.shape());
  }

  @Override
  public ModelSignature signature() {
    return signature;
  }

  @Override
  public void setImage(ImageSet images, int index) {
    images.writeTo(index, image, signature.image.dtype);
    if (decisions != null) {
      for (int i = 0; i < decisionValues.length; i++) {
        decisions.putFloat(4 * i, decisionValues[i]);
      }
      decisions.rewind();
    }
    if (force != null) {
      force.putFloat(0, ModelContract.FORCE_GATES_OFF);
      force.rewind();
    }
    logits.rewind();
    gate.rewind();
    keptGroups.rewind();
    realizedFlops.rewind();
  }

  @Override
  public void invoke() {
    try {
      interpreter.runSignature(inputs, outputs, signature.key);
    } catch (RuntimeException e) {
      throw new IllegalStateException(
          org.lcnet.demo.core.LoadErrors.describe(file, e, runtime, converterVersion), e);
    }
  }

  @Override
  public void readOutputs(ModelOutputs out) {
    for (int i = 0; i < out.logits.length; i++) {
      out.logits[i] = logits.getFloat(4 * i);
    }
    for (int b = 0; b < out.gate.length; b++) {
      out.gate[b] = gate.getFloat(4 * b);
      out.keptGroups[b] = keptGroups.getFloat(4 * b);
    }
    out.realizedFlops = realizedFlops.getFloat(0);
  }

  @Override
  public void close() {
    interpreter.close();
  }
}
