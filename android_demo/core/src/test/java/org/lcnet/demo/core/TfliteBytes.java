package org.lcnet.demo.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Writes the part of a .tflite flatbuffer that {@link TfliteMetadata} reads, for tests: a root
 * {@code Model} with {@code version} (field 0), {@code buffers} (field 4) and {@code metadata}
 * (field 6); each {@code Buffer} inline ({@code data}, field 0) or, like files over 2 GB, as
 * {@code offset} / {@code size} (fields 1, 2) into bytes appended after the flatbuffer.
 *
 * <p>Objects are laid out forward (every uoffset points forward, as flatbuffers require), each
 * table after its own vtable; real files from the converter put vtables elsewhere and share
 * them, which tests/android_demo covers with files Python wrote.
 */
final class TfliteBytes {
  /** One Buffer: inline bytes, or external bytes placed after the flatbuffer. */
  static final class Buffer {
    final byte[] data;
    final boolean external;

    private Buffer(byte[] data, boolean external) {
      this.data = data;
      this.external = external;
    }
  }

  private final List<Buffer> buffers = new ArrayList<>();
  private final List<String> names = new ArrayList<>();
  private final List<Long> bufferIndices = new ArrayList<>();
  private String identifier = "TFL3";

  /** A model with the usual empty buffer 0. */
  TfliteBytes() {
    buffers.add(new Buffer(new byte[0], false));
  }

  /** Adds a buffer; returns its index. */
  int buffer(byte[] data, boolean external) {
    buffers.add(new Buffer(data.clone(), external));
    return buffers.size() - 1;
  }

  /** Adds a metadata entry naming buffer {@code index} (which may be out of range). */
  TfliteBytes metadata(String name, long index) {
    names.add(name);
    bufferIndices.add(index);
    return this;
  }

  /** Adds a buffer holding {@code text} (UTF-8) and a metadata entry naming it. */
  TfliteBytes metadata(String name, String text, boolean external) {
    return metadata(name, buffer(text.getBytes(StandardCharsets.UTF_8), external));
  }

  TfliteBytes identifier(String value) {
    identifier = value;
    return this;
  }

  /** A model with a budget table entry holding {@code json}. */
  static byte[] withTable(String json) {
    return new TfliteBytes().metadata("min_runtime_version", "1.14.0", false)
        .metadata(BudgetKnob.METADATA_NAME, json, false).build();
  }

  byte[] build() {
    Writer out = new Writer();
    int root = out.reserve();
    out.ascii(identifier);
    // Model: version (u32), buffers (uoffset), metadata (uoffset, omitted when there is none).
    boolean hasMetadata = !names.isEmpty();
    int model = hasMetadata ? out.table(7, new int[][] {{0, 4}, {4, 8}, {6, 12}}, 16, 4)
        : out.table(7, new int[][] {{0, 4}, {4, 8}}, 12, 4);
    out.patch(root, model);
    int buffersField = model + 8;
    int metadataField = model + 12;
    out.putInt(model + 4, 3);  // version
    int buffersVector = out.vector(buffers.size());
    out.patch(buffersField, buffersVector);
    List<int[]> external = new ArrayList<>();  // {offset field, size field, buffer index}
    for (int i = 0; i < buffers.size(); i++) {
      Buffer buffer = buffers.get(i);
      if (buffer.external) {
        int table = out.table(3, new int[][] {{1, 8}, {2, 16}}, 24, 8);  // offset, size: u64
        out.patch(buffersVector + 4 + 4 * i, table);
        external.add(new int[] {table + 8, table + 16, i});
      } else if (buffer.data.length == 0) {
        int table = out.table(3, new int[][] {}, 4, 4);
        out.patch(buffersVector + 4 + 4 * i, table);
      } else {
        int table = out.table(3, new int[][] {{0, 4}}, 8, 4);
        out.patch(buffersVector + 4 + 4 * i, table);
        out.patch(table + 4, out.bytes(buffer.data));
      }
    }
    if (hasMetadata) {
      int metadataVector = out.vector(names.size());
      out.patch(metadataField, metadataVector);
      for (int i = 0; i < names.size(); i++) {
        int table = out.table(2, new int[][] {{0, 4}, {1, 8}}, 12, 4);
        out.patch(metadataVector + 4 + 4 * i, table);
        out.patch(table + 4, out.string(names.get(i)));
        out.putInt(table + 8, (int) (long) bufferIndices.get(i));
      }
    }
    for (int[] slot : external) {
      byte[] data = buffers.get(slot[2]).data;
      out.align(16);
      int start = out.size();
      out.append(data);
      out.putLong(slot[0], start);
      out.putLong(slot[1], data.length);
    }
    return out.toBytes();
  }

  /** Appends little-endian flatbuffer pieces and patches offsets. */
  private static final class Writer {
    private ByteBuffer bytes = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);

    int size() {
      return bytes.position();
    }

    private void ensure(int more) {
      if (bytes.remaining() < more) {
        ByteBuffer bigger = ByteBuffer.allocate(Math.max(2 * bytes.capacity(), size() + more))
            .order(ByteOrder.LITTLE_ENDIAN);
        bytes.flip();
        bigger.put(bytes);
        bytes = bigger;
      }
    }

    void align(int alignment) {
      while (size() % alignment != 0) {
        ensure(1);
        bytes.put((byte) 0);
      }
    }

    int reserve() {
      align(4);
      ensure(4);
      int at = size();
      bytes.putInt(0);
      return at;
    }

    void ascii(String text) {
      append(text.getBytes(StandardCharsets.US_ASCII));
    }

    void append(byte[] data) {
      ensure(data.length);
      bytes.put(data);
    }

    /** Writes the uoffset at {@code at} pointing to {@code target} (which lies after it). */
    void patch(int at, int target) {
      if (target <= at) {
        throw new IllegalStateException("uoffsets point forward");
      }
      bytes.putInt(at, target - at);
    }

    void putInt(int at, int value) {
      bytes.putInt(at, value);
    }

    void putLong(int at, long value) {
      bytes.putLong(at, value);
    }

    /**
     * A vtable for {@code numFields} fields, then the table ({@code tableSize} bytes, starting
     * {@code alignment}-aligned): its soffset, then zeros. {@code fields} holds {@code {field,
     * byte offset in the table}} pairs of the fields present. Returns the table's position.
     */
    int table(int numFields, int[][] fields, int tableSize, int alignment) {
      align(2);
      int vtable = size();
      short[] offsets = new short[numFields];
      for (int[] field : fields) {
        offsets[field[0]] = (short) field[1];
      }
      ensure(4 + 2 * numFields);
      bytes.putShort((short) (4 + 2 * numFields)).putShort((short) tableSize);
      for (short offset : offsets) {
        bytes.putShort(offset);
      }
      align(alignment);
      int table = size();
      ensure(tableSize);
      bytes.putInt(table - vtable);  // soffset: vtable = table - soffset
      for (int i = 4; i < tableSize; i++) {
        bytes.put((byte) 0);
      }
      return table;
    }

    /** A vector of {@code length} uoffsets (patched later); returns its position. */
    int vector(int length) {
      align(4);
      ensure(4 + 4 * length);
      int at = size();
      bytes.putInt(length);
      for (int i = 0; i < length; i++) {
        bytes.putInt(0);
      }
      return at;
    }

    int bytes(byte[] data) {
      align(4);
      int at = size();
      ensure(4 + data.length);
      bytes.putInt(data.length);
      bytes.put(data);
      return at;
    }

    int string(String text) {
      byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
      int at = bytes(utf8);
      ensure(1);
      bytes.put((byte) 0);
      return at;
    }

    byte[] toBytes() {
      return Arrays.copyOf(bytes.array(), size());
    }
  }
}
