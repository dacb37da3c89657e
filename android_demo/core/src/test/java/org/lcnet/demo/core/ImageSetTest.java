package org.lcnet.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.junit.Test;

/**
 * images_small.bin was written by Python's write_image_set: 3 images of 4x5x3, pixel (i, y, x, c)
 * = (7 i + 13 y + 3 x + 101 c) mod 256, labels 3, 0, 9 (tests/android_demo checks that Python
 * still writes exactly these bytes).
 */
public class ImageSetTest {
  static byte[] smallSetBytes() throws IOException {
    try (InputStream stream = ImageSetTest.class.getResourceAsStream("/images_small.bin")) {
      if (stream == null) {
        throw new IOException("images_small.bin is not on the test classpath");
      }
      java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
      byte[] buffer = new byte[4096];
      int read;
      while ((read = stream.read(buffer)) > 0) {
        out.write(buffer, 0, read);
      }
      return out.toByteArray();
    }
  }

  @Test
  public void readsWhatPythonWrote() throws IOException {
    ImageSet images;
    try (InputStream stream = ImageSetTest.class.getResourceAsStream("/images_small.bin")) {
      images = ImageSet.read(stream);
    }
    assertEquals(3, images.count);
    assertEquals(4, images.height);
    assertEquals(5, images.width);
    assertEquals(3, images.channels);
    assertArrayEquals(new int[] {3, 0, 9}, images.labels());
    for (int i = 0; i < 3; i++) {
      for (int y = 0; y < 4; y++) {
        for (int x = 0; x < 5; x++) {
          for (int c = 0; c < 3; c++) {
            assertEquals((7 * i + 13 * y + 3 * x + 101 * c) % 256, images.pixel(i, y, x, c));
          }
        }
      }
    }
  }

  @Test
  public void writesFloatAndUint8InputsInNhwcOrder() throws IOException {
    ImageSet images = ImageSet.fromBytes(smallSetBytes());
    ByteBuffer floats = ByteBuffer.allocateDirect(4 * 60).order(ByteOrder.nativeOrder());
    images.writeTo(2, floats, "float32");
    assertEquals(0, floats.position());
    assertEquals((float) ((14 + 39 + 12 + 202) % 256), floats.getFloat(4 * (59)), 0f);
    assertEquals(14f, floats.getFloat(0), 0f);
    assertEquals(14f + 101f, floats.getFloat(4), 0f);  // Channel is the fastest axis.
    ByteBuffer bytes = ByteBuffer.allocateDirect(60);
    images.writeTo(1, bytes, "uint8");
    assertEquals(7 + 202, bytes.get(2) & 0xff);  // y=0, x=0, c=2: 7 + 202 = 209 (> 127).
    assertThrows(IllegalArgumentException.class, () -> images.writeTo(0, bytes, "int8"));
    assertThrows(IndexOutOfBoundsException.class, () -> images.writeTo(3, bytes, "uint8"));
  }

  @Test
  public void rejectsFilesThatAreNotImageSets() throws IOException {
    byte[] good = smallSetBytes();
    byte[] badMagic = good.clone();
    badMagic[0] = 'X';
    byte[] badVersion = good.clone();
    badVersion[4] = 2;
    byte[][] bad = {Arrays.copyOf(good, 10), badMagic, badVersion,
        Arrays.copyOf(good, good.length - 1), Arrays.copyOf(good, good.length + 1)};
    String[] messages = {"shorter than", "LCIM", "version 2", "truncated", "truncated"};
    for (int i = 0; i < bad.length; i++) {
      final byte[] data = bad[i];
      IOException error = assertThrows(IOException.class, () -> ImageSet.fromBytes(data));
      assertTrue(error.getMessage(), error.getMessage().contains(messages[i]));
    }
  }
}
