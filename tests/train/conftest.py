"""A tiny synthetic CIFAR-like TFDS directory shared by the training tests."""

import pytest


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory):
    from lcnet_tf.data import make_synthetic_tfds_dir

    return make_synthetic_tfds_dir(tmp_path_factory.mktemp("data") / "synthetic",
                                   num_train=64, num_test=32)
