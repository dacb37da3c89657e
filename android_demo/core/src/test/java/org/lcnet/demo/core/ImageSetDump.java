package org.lcnet.demo.core;

import java.io.FileInputStream;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads an image set as the app does and writes back what the models would receive: every
 * image's float32 input buffer (little-endian) and uint8 input buffer, plus the header and
 * labels as JSON. tests/android_demo compares them with the arrays Python wrote.
 *
 * <pre>java ... ImageSetDump images.bin out_prefix   # out_prefix.f32, out_prefix.u8, .json</pre>
 */
public final class ImageSetDump {
  private ImageSetDump() {}

  public static void main(String[] args) throws Exception {
    ImageSet images;
    try (InputStream stream = new FileInputStream(args[0])) {
      images = ImageSet.read(stream);
    }
    String prefix = args[1];
    ByteBuffer floats = ByteBuffer.allocateDirect(4 * images.imageBytes())
        .order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer bytes = ByteBuffer.allocateDirect(images.imageBytes());
    try (FileChannel f32 = FileChannel.open(Paths.get(prefix + ".f32"),
            StandardOpenOption.CREATE, StandardOpenOption.WRITE,
            StandardOpenOption.TRUNCATE_EXISTING);
        FileChannel u8 = FileChannel.open(Paths.get(prefix + ".u8"), StandardOpenOption.CREATE,
            StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
      for (int i = 0; i < images.count; i++) {
        images.writeTo(i, floats, "float32");
        while (floats.hasRemaining()) {
          f32.write(floats);
        }
        images.writeTo(i, bytes, "uint8");
        while (bytes.hasRemaining()) {
          u8.write(bytes);
        }
      }
    }
    Map<String, Object> header = new LinkedHashMap<>();
    header.put("count", images.count);
    header.put("height", images.height);
    header.put("width", images.width);
    header.put("channels", images.channels);
    header.put("labels", images.labels());
    Files.write(Paths.get(prefix + ".json"), Report.toJson(header).getBytes(StandardCharsets.UTF_8));
  }
}
