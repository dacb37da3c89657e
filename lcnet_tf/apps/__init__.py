"""Applications of exported models, above `lcnet_tf.export` (which converts and checks only).

- `web_demo`: the data directory and HTTP server of the browser benchmark page (`web_demo/`).
- `android_assets`: the assets of the Android benchmark app (`android_demo/`).

Their command lines are `lcnet_tf.cli.serve_demo` and `lcnet_tf.cli.android_assets`.
"""
