"""Converts a trained `.keras` model to TFLite (also installed as `lcnet-tflite-convert`).

    python -m tflite.convert --model runs/r20/model.keras --out r20.tflite --quantize int8 \
        --dataset ../shared/data/cifar10_jpeg

Code: `lcnet_tf.cli.tflite_convert`.
"""

from absl import flags

from lcnet_tf.cli import tflite_convert

flags.adopt_module_key_flags(tflite_convert)

if __name__ == "__main__":
    tflite_convert.run()
