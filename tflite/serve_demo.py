"""Serves the browser benchmark page (web_demo/, LiteRT.js) with a workdir's models.

    python -m tflite.serve_demo --workdir runs/cifar_lc_b04 [--lan] [--export]

Code: `lcnet_tf.cli.serve_demo`.
"""

from absl import flags

from lcnet_tf.cli import serve_demo

flags.adopt_module_key_flags(serve_demo)

if __name__ == "__main__":
    serve_demo.run()
