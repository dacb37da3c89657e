package org.lcnet.demo.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The metadata entries of a {@code .tflite} file, read from its bytes: the five flatbuffer
 * fields docs/tflite_signature.md names ("Budget knob files"), and nothing else.
 *
 * <ul>
 *   <li>root table {@code Model}: field 4 {@code buffers: [Buffer]}, field 6 {@code metadata:
 *       [Metadata]};
 *   <li>{@code Metadata}: field 0 {@code name: string}, field 1 {@code buffer: uint32} (an index
 *       into {@code buffers});
 *   <li>{@code Buffer}: field 0 {@code data: [ubyte]} (inline) or, when empty, fields 1 {@code
 *       offset: uint64} and 2 {@code size: uint64} (bytes from the start of the file; files over
 *       2 GB; valid only when offset &gt; 1, as the schema says).
 * </ul>
 *
 * <p>LiteRT's Java {@code Interpreter} exposes no metadata, and the app needs no flatbuffers
 * library for five fields. Every read is bounds-checked: a truncated or corrupt file is a
 * {@link ContractException} naming the field, never an exception from a buffer.
 */
final class TfliteMetadata {
  /** The flatbuffer file identifier of every .tflite file (bytes 4 to 8). */
  static final String FILE_IDENTIFIER = "TFL3";

  private static final int MODEL_BUFFERS = 4;
  private static final int MODEL_METADATA = 6;
  private static final int METADATA_NAME = 0;
  private static final int METADATA_BUFFER = 1;
  private static final int BUFFER_DATA = 0;
  private static final int BUFFER_OFFSET = 1;
  private static final int BUFFER_SIZE = 2;

  /** One entry of {@code Model.metadata}. */
  static final class Entry {
    /** The entry's name (null when the field is absent). */
    final String name;
    /** Its index into {@code Model.buffers}. */
    final long buffer;
    /** The buffer's bytes: a read-only view of the file, position 0 (no copy). */
    final ByteBuffer data;

    Entry(String name, long buffer, ByteBuffer data) {
      this.name = name;
      this.buffer = buffer;
      this.data = data;
    }
  }

  private final String file;
  private final ByteBuffer bytes;

  private TfliteMetadata(String file, ByteBuffer bytes) {
    this.file = file;
    this.bytes = bytes;
  }

  /**
   * The metadata entries of a .tflite file, in file order.
   *
   * @param file the file's name (for messages)
   * @param model the whole file (e.g. LiteRT's memory-mapped buffer), from index 0 to its
   *     limit; its position and byte order are left alone
   * @throws ContractException not a .tflite file, or a field outside the file
   */
  static List<Entry> read(String file, ByteBuffer model) throws ContractException {
    ByteBuffer view = model.duplicate();
    view.clear();  // Index 0 to capacity, whatever the caller's position and limit.
    view.limit(model.limit());
    return new TfliteMetadata(file, view.order(ByteOrder.LITTLE_ENDIAN)).entries();
  }

  private List<Entry> entries() throws ContractException {
    if (bytes.limit() < 8 || !FILE_IDENTIFIER.equals(ascii(4, 4))) {
      throw new ContractException(file + ": not a .tflite file (" + bytes.limit() + " bytes, no \""
          + FILE_IDENTIFIER + "\" flatbuffer identifier at byte 4).");
    }
    long model = indirect(0, "the root table Model");
    long[] metadata = vector(model, MODEL_METADATA, 4, "Model.metadata");
    if (metadata == null) {
      return Collections.emptyList();
    }
    long[] buffers = vector(model, MODEL_BUFFERS, 4, "Model.buffers");
    List<Entry> entries = new ArrayList<>();
    for (int i = 0; i < metadata[1]; i++) {
      String what = "Model.metadata[" + i + "]";
      long entry = indirect(metadata[0] + 4L * i, what);
      String name = string(entry, METADATA_NAME, what + ".name");
      long bufferField = field(entry, METADATA_BUFFER, what);
      long index = bufferField < 0 ? 0 : u32(bufferField, what + ".buffer");
      long count = buffers == null ? 0 : buffers[1];
      if (index >= count) {
        throw corrupt(what + " (\"" + name + "\") names buffer " + index + ", the file has "
            + count + " buffers");
      }
      entries.add(new Entry(name, index, data(indirect(buffers[0] + 4L * index,
          "Model.buffers[" + index + "]"), "Model.buffers[" + index + "]")));
    }
    return entries;
  }

  /** The bytes of the Buffer table at {@code buffer}: inline data, else offset and size. */
  private ByteBuffer data(long buffer, String what) throws ContractException {
    long[] inline = vector(buffer, BUFFER_DATA, 1, what + ".data");
    if (inline != null && inline[1] > 0) {
      return slice(inline[0], inline[1]);
    }
    long offsetField = field(buffer, BUFFER_OFFSET, what);
    long sizeField = field(buffer, BUFFER_SIZE, what);
    long offset = offsetField < 0 ? 0 : u64(offsetField, what + ".offset");
    long size = sizeField < 0 ? 0 : u64(sizeField, what + ".size");
    if (offset > 1) {  // The schema: "Only valid if > 1".
      check(offset, size, what + " (offset " + offset + ", size " + size + ")");
      return slice(offset, size);
    }
    return slice(0, 0);
  }

  private ByteBuffer slice(long start, long length) {
    ByteBuffer view = bytes.duplicate();
    view.limit((int) (start + length));
    view.position((int) start);
    return view.slice().asReadOnlyBuffer();
  }

  // ---- flatbuffer primitives ----------------------------------------------------------------

  /**
   * Where field {@code index} of the table at {@code table} is stored, or -1 when absent. The
   * table starts with a signed offset back to its vtable: {@code [vtable bytes, table bytes,
   * field offsets (uint16, 0 = absent)...]}.
   */
  private long field(long table, int index, String what) throws ContractException {
    check(table, 4, what);
    long vtable = table - bytes.getInt((int) table);
    int vtableSize = u16(vtable, "the vtable of " + what);
    int slot = 4 + 2 * index;
    if (slot + 2 > vtableSize) {
      return -1;
    }
    int offset = u16(vtable + slot, "the vtable of " + what);
    return offset == 0 ? -1 : table + offset;
  }

  /** Follows the uoffset stored at {@code position}. */
  private long indirect(long position, String what) throws ContractException {
    return position + u32(position, what);
  }

  /**
   * A vector field: {@code {first element, length}}, or null when absent; its {@code
   * elementSize}-byte elements are checked to lie inside the file.
   */
  private long[] vector(long table, int index, int elementSize, String what)
      throws ContractException {
    long position = field(table, index, what);
    if (position < 0) {
      return null;
    }
    long start = indirect(position, what);
    long length = u32(start, "the length of " + what);
    check(start + 4, length * elementSize, what + " (" + length + " elements)");
    return new long[] {start + 4, length};
  }

  private String string(long table, int index, String what) throws ContractException {
    long[] text = vector(table, index, 1, what);
    if (text == null) {
      return null;
    }
    byte[] utf8 = new byte[(int) text[1]];
    ByteBuffer view = bytes.duplicate();
    view.position((int) text[0]);
    view.get(utf8);
    return new String(utf8, StandardCharsets.UTF_8);
  }

  private String ascii(int start, int length) {
    StringBuilder text = new StringBuilder();
    for (int i = start; i < start + length; i++) {
      text.append((char) (bytes.get(i) & 0xff));
    }
    return text.toString();
  }

  private int u16(long position, String what) throws ContractException {
    check(position, 2, what);
    return bytes.getShort((int) position) & 0xffff;
  }

  private long u32(long position, String what) throws ContractException {
    check(position, 4, what);
    return bytes.getInt((int) position) & 0xffffffffL;
  }

  private long u64(long position, String what) throws ContractException {
    check(position, 8, what);
    long value = bytes.getLong((int) position);
    if (value < 0) {  // Over 2^63: no file is that large.
      throw corrupt(what + " is " + Long.toUnsignedString(value));
    }
    return value;
  }

  /** Throws unless bytes [position, position + length) lie inside the file. */
  private void check(long position, long length, String what) throws ContractException {
    if (position < 0 || length < 0 || position > bytes.limit() - length) {
      throw corrupt(what + " at byte " + position + " (+" + length + ") lies outside the file's "
          + bytes.limit() + " bytes");
    }
  }

  private ContractException corrupt(String detail) {
    return new ContractException(file + ": not a valid .tflite flatbuffer: " + detail + ".");
  }
}
