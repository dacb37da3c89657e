package org.lcnet.demo.core;

/** A model file does not have the lcnet-tf signature (docs/tflite_signature.md). */
public final class ContractException extends Exception {
  private static final long serialVersionUID = 1L;

  public ContractException(String message) {
    super(message);
  }
}
