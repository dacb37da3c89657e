package org.lcnet.demo.core;

/** A monotonic clock in nanoseconds; {@link #SYSTEM} is {@code System.nanoTime}. */
public interface Clock {
  long nanoTime();

  Clock SYSTEM = System::nanoTime;
}
