"""Command-line tools: `python -m tflite.convert`, `python -m tflite.benchmark`."""
