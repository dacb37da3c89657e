"""Writes the Android benchmark app's assets (android_demo/): models, test images, manifest.

    python -m tflite.android_assets --workdir runs/cifar_lc_b04 \
        [--out android_demo/app/src/main/assets]

Code: `lcnet_tf.cli.android_assets`.
"""

from absl import flags

from lcnet_tf.cli import android_assets

flags.adopt_module_key_flags(android_assets)

if __name__ == "__main__":
    android_assets.run()
