package org.lcnet.demo.core;

import java.util.Arrays;

/** Name, dtype ("float32", "uint8", ...) and shape of one signature input or output. */
public final class TensorSpec {
  public final String name;
  public final String dtype;
  private final int[] shape;

  public TensorSpec(String name, String dtype, int[] shape) {
    this.name = name;
    this.dtype = dtype;
    this.shape = Arrays.copyOf(shape, shape.length);
  }

  public int[] shape() {
    return Arrays.copyOf(shape, shape.length);
  }

  public int rank() {
    return shape.length;
  }

  public int dim(int axis) {
    return shape[axis];
  }

  public int numElements() {
    int count = 1;
    for (int d : shape) {
      count *= d;
    }
    return count;
  }

  /** Bytes of the tensor for the dtypes the contract uses (float32, uint8). */
  public int numBytes() {
    return numElements() * bytesPerElement(dtype);
  }

  static int bytesPerElement(String dtype) {
    switch (dtype) {
      case "float32":
      case "int32":
        return 4;
      case "uint8":
      case "int8":
      case "bool":
        return 1;
      case "float16":
      case "int16":
        return 2;
      case "int64":
      case "float64":
        return 8;
      default:
        throw new IllegalArgumentException("Unknown dtype " + dtype);
    }
  }

  @Override
  public String toString() {
    return name + " " + dtype + Arrays.toString(shape);
  }
}
