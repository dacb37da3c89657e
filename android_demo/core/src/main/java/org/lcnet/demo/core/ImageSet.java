package org.lcnet.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * Test images and labels in the small binary format that {@code
 * lcnet_tf.apps.android_assets.write_image_set} writes ({@code images.bin}).
 *
 * <pre>
 * offset  size        content (little-endian)
 * 0       4           magic "LCIM"
 * 4       4           uint32 format version (1)
 * 8       4           uint32 count N
 * 12      4           uint32 height H
 * 16      4           uint32 width W
 * 20      4           uint32 channels C (3)
 * 24      4 N         int32 labels
 * 24+4N   N H W C     uint8 pixels, NHWC (RGB, 0-255), image after image
 * </pre>
 */
public final class ImageSet {
  public static final byte[] MAGIC = {'L', 'C', 'I', 'M'};
  public static final int VERSION = 1;
  public static final int HEADER_BYTES = 24;

  public final int count;
  public final int height;
  public final int width;
  public final int channels;
  private final int[] labels;
  private final byte[] pixels;

  private ImageSet(int count, int height, int width, int channels, int[] labels, byte[] pixels) {
    this.count = count;
    this.height = height;
    this.width = width;
    this.channels = channels;
    this.labels = labels;
    this.pixels = pixels;
  }

  /** Reads the whole stream (not closed). */
  public static ImageSet read(InputStream stream) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buffer = new byte[1 << 16];
    int read;
    while ((read = stream.read(buffer)) > 0) {
      out.write(buffer, 0, read);
    }
    return fromBytes(out.toByteArray());
  }

  /** Parses a whole file's bytes. */
  public static ImageSet fromBytes(byte[] data) throws IOException {
    if (data.length < HEADER_BYTES) {
      throw new IOException("Not an image set: " + data.length + " bytes, shorter than the "
          + HEADER_BYTES + "-byte header.");
    }
    if (!Arrays.equals(Arrays.copyOf(data, 4), MAGIC)) {
      throw new IOException("Not an image set: the file does not start with \"LCIM\" (write it "
          + "with python -m tflite.android_assets).");
    }
    ByteBuffer header = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
    long version = header.getInt(4) & 0xffffffffL;
    if (version != VERSION) {
      throw new IOException("Image set format version " + version + " is not supported (this app "
          + "reads version " + VERSION + ").");
    }
    long count = header.getInt(8) & 0xffffffffL;
    long height = header.getInt(12) & 0xffffffffL;
    long width = header.getInt(16) & 0xffffffffL;
    long channels = header.getInt(20) & 0xffffffffL;
    long imageBytes = height * width * channels;
    long expected = HEADER_BYTES + 4 * count + count * imageBytes;
    if (count == 0 || imageBytes == 0 || expected > Integer.MAX_VALUE) {
      throw new IOException("Image set header is invalid: " + count + " images of " + height + "x"
          + width + "x" + channels + ".");
    }
    if (data.length != expected) {
      throw new IOException("Image set is truncated or padded: " + data.length + " bytes, "
          + "expected " + expected + " for " + count + " images of " + height + "x" + width + "x"
          + channels + ".");
    }
    int[] labels = new int[(int) count];
    for (int i = 0; i < count; i++) {
      labels[i] = header.getInt(HEADER_BYTES + 4 * i);
    }
    int start = HEADER_BYTES + 4 * (int) count;
    byte[] pixels = Arrays.copyOfRange(data, start, data.length);
    return new ImageSet((int) count, (int) height, (int) width, (int) channels, labels, pixels);
  }

  public int label(int index) {
    return labels[index];
  }

  public int[] labels() {
    return Arrays.copyOf(labels, labels.length);
  }

  /** Pixel value 0-255 of image {@code index} at (y, x, c). */
  public int pixel(int index, int y, int x, int c) {
    return pixels[offset(index) + (y * width + x) * channels + c] & 0xff;
  }

  /** Bytes of one image (H W C). */
  public int imageBytes() {
    return height * width * channels;
  }

  /**
   * Writes image {@code index} into a model input buffer at its position 0: float32 values
   * 0.0-255.0 or uint8 bytes, NHWC (the model normalises inside). The buffer's byte order is
   * used (LiteRT wants {@code ByteOrder.nativeOrder()}); its position is left at 0.
   */
  public void writeTo(int index, ByteBuffer target, String dtype) {
    int start = offset(index);
    int size = imageBytes();
    target.rewind();
    if (dtype.equals("float32")) {
      for (int i = 0; i < size; i++) {
        target.putFloat(pixels[start + i] & 0xff);
      }
    } else if (dtype.equals("uint8")) {
      target.put(pixels, start, size);
    } else {
      throw new IllegalArgumentException("Image inputs are float32 or uint8, not " + dtype);
    }
    target.rewind();
  }

  private int offset(int index) {
    if (index < 0 || index >= count) {
      throw new IndexOutOfBoundsException("Image " + index + " of " + count);
    }
    return index * imageBytes();
  }
}
