"""Shared by the tflite CLIs: library errors become one line on stderr and exit status 2."""

import sys


def run_with_clear_errors(main):
    """Returns an `absl.app.run` entry point that reports library errors in one line."""

    def run(argv):
        from lcnet_tf.data import DatasetError
        from lcnet_tf.export import ExportError
        from lcnet_tf.export.tflite_inspect import TFLiteModelError

        try:
            main(argv)
        except (ExportError, TFLiteModelError, DatasetError, ValueError) as error:
            print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
            sys.exit(2)

    return run
