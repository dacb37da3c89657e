"""Dynamic vs static TFLite latency on real test images (also `lcnet-tflite-benchmark`).

    python -m tflite.benchmark --model runs/r20/model.keras --dataset ../shared/data/cifar10_jpeg \
        --num_images 1000 --quantize none,int8 --out_dir runs/r20/tflite_bench

Code: `lcnet_tf.cli.tflite_benchmark`.
"""

from absl import flags

from lcnet_tf.cli import tflite_benchmark

flags.adopt_module_key_flags(tflite_benchmark)

if __name__ == "__main__":
    tflite_benchmark.run()
