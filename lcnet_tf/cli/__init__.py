"""Command-line tools, installed as console scripts and runnable from a checkout.

| console script | from a checkout | module |
| --- | --- | --- |
| `lcnet-train-cifar` | `python -m train.cifar` | `lcnet_tf.cli.train` |
| `lcnet-train-imagenet` | `python -m train.imagenet` | `lcnet_tf.cli.train` |
| `lcnet-tflite-convert` | `python -m tflite.convert` | `lcnet_tf.cli.tflite_convert` |
| `lcnet-tflite-benchmark` | `python -m tflite.benchmark` | `lcnet_tf.cli.tflite_benchmark` |
| (none: the page is not in the wheel) | `python -m tflite.serve_demo` | `lcnet_tf.cli.serve_demo` |
| (none) | `python -m tflite.android_assets` | `lcnet_tf.cli.android_assets` |

They live in the package so that installing lcnet-tf puts only `lcnet_tf` into
site-packages (PyPI has a package called `tflite`); `train/` and `tflite/` in the
repository are two-line wrappers. Each is flags -> config -> one library call.
"""
