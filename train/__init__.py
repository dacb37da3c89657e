"""Command-line entry points (thin absl wrappers around `lcnet_tf.training`)."""
