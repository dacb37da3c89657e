"""Tests for lcnet_tf.data: dataset resolution, input pipelines and the synthetic TFDS dir."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from lcnet_tf import data

CIFAR10_JPEG = Path(__file__).resolve().parents[1].parent / "shared/data/cifar10_jpeg"
needs_cifar10_jpeg = pytest.mark.skipif(
    not (CIFAR10_JPEG / "dataset_info.json").is_file(),
    reason=f"offline CIFAR-10 copy not found at {CIFAR10_JPEG}",
)


@pytest.fixture(scope="module")
def cifar_builder():
    return data.resolve_dataset(str(CIFAR10_JPEG))


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    return data.make_synthetic_tfds_dir(tmp_path_factory.mktemp("synthetic") / "tfds")


def _as_numpy(dataset):
    batches = [(images.numpy(), labels.numpy()) for images, labels in dataset]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def _crop_flip_candidates(image, pad):
    """Every reflect-pad + crop (+ optional flip) of `image`: the NumPy reference augmentation."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    candidates = {}
    for top in range(2 * pad + 1):
        for left in range(2 * pad + 1):
            crop = padded[top : top + height, left : left + width]
            candidates[(top, left, False)] = crop
            candidates[(top, left, True)] = crop[:, ::-1]
    return candidates


@needs_cifar10_jpeg
def test_training_batch_from_real_copy(cifar_builder):
    train = data.make_dataset(
        cifar_builder, "train", batch_size=64, training=True, seed=0, take=256
    )
    images, labels = next(iter(train))
    assert images.dtype == "uint8" and images.shape == (64, 32, 32, 3)
    assert labels.dtype == "int32" and labels.shape == (64,)
    images = images.numpy()
    # Raw 0..255 pixels, not normalised to 0..1 or standardised.
    assert images.min() < 30 and images.max() > 225
    assert set(labels.numpy()) <= set(range(10))
    eval_labels = next(
        iter(data.make_dataset(cifar_builder, "train", batch_size=64, training=False, take=256))
    )[1]
    assert not np.array_equal(labels.numpy(), eval_labels.numpy()), "training must shuffle"


@needs_cifar10_jpeg
def test_eval_batches_from_real_copy_are_deterministic(cifar_builder):
    def run():
        return _as_numpy(
            data.make_dataset(cifar_builder, "test", batch_size=100, training=False, take=256)
        )

    images, labels = run()
    # drop_remainder defaults to False for evaluation: 100 + 100 + 56.
    assert images.shape == (256, 32, 32, 3) and images.dtype == np.uint8
    assert labels.shape == (256,) and labels.dtype == np.int32
    assert set(labels) == set(range(10))
    images_again, labels_again = run()
    np.testing.assert_array_equal(images, images_again)
    np.testing.assert_array_equal(labels, labels_again)


@needs_cifar10_jpeg
def test_num_examples_of_real_copy(cifar_builder):
    assert data.num_examples(cifar_builder, "train") == 50_000
    assert data.num_examples(cifar_builder, "test") == 10_000
    assert data.num_examples(cifar_builder, "train[:10%]") == 5_000


@needs_cifar10_jpeg
def test_training_augmentation_is_a_reflect_pad_crop_and_flip(cifar_builder):
    (original,), _ = _as_numpy(
        data.make_dataset(cifar_builder, "train[:1]", batch_size=1, training=False)
    )
    augmented, _ = next(
        iter(
            data.make_dataset(
                cifar_builder, "train[:1]", batch_size=64, training=True, seed=3, repeat=True
            )
        )
    )
    candidates = _crop_flip_candidates(original, pad=data.CIFAR_PAD)
    used = set()
    for image in augmented.numpy():
        matches = [key for key, crop in candidates.items() if np.array_equal(image, crop)]
        assert matches, "augmented image is not a reflect-pad crop/flip of the original"
        used.update(matches)
    assert any(not np.array_equal(image, original) for image in augmented.numpy())
    assert {flip for _, _, flip in used} == {False, True}
    assert len({(top, left) for top, left, _ in used}) > 10


def test_synthetic_dir_round_trips(synthetic_dir):
    builder = tfds.builder_from_directory(synthetic_dir)
    assert {name: split.num_examples for name, split in builder.info.splits.items()} == {
        "train": 64,
        "test": 32,
    }
    features = builder.info.features
    assert set(features.keys()) == {"id", "image", "label"}
    assert features["image"].shape == (32, 32, 3) and features["image"].dtype == np.uint8
    assert features["label"].num_classes == 10
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    assert len({example["id"] for example in examples}) == 64
    assert {int(example["label"]) for example in examples} == set(range(10))
    assert all(example["image"].dtype == np.uint8 for example in examples)


def test_synthetic_dir_is_reproducible_and_refuses_non_empty_dirs(tmp_path, synthetic_dir):
    def test_images(path):
        builder = data.resolve_dataset(path)
        return _as_numpy(data.make_dataset(builder, "test", batch_size=32, training=False))

    same = data.make_synthetic_tfds_dir(tmp_path / "same")
    other = data.make_synthetic_tfds_dir(tmp_path / "other", seed=1)
    np.testing.assert_array_equal(test_images(same)[0], test_images(synthetic_dir)[0])
    assert not np.array_equal(test_images(other)[0], test_images(synthetic_dir)[0])
    with pytest.raises(ValueError, match="not empty"):
        data.make_synthetic_tfds_dir(same)


def test_default_drop_remainder_follows_training(synthetic_dir):
    builder = data.resolve_dataset(synthetic_dir)
    train = data.make_dataset(builder, "train", batch_size=24, training=True, seed=0)
    assert [int(images.shape[0]) for images, _ in train] == [24, 24]
    test = data.make_dataset(builder, "test", batch_size=24, training=False)
    assert [int(images.shape[0]) for images, _ in test] == [24, 8]


def test_image_size_resizes_and_crops(tmp_path):
    data_dir = data.make_synthetic_tfds_dir(tmp_path / "tfds", num_train=8, num_test=8)
    for training in (True, False):
        dataset = data.make_dataset(
            data_dir, "test", batch_size=8, training=training, image_size=24, seed=0
        )
        images, labels = next(iter(dataset))
        assert images.dtype == "uint8" and images.shape == (8, 24, 24, 3)
        assert labels.dtype == "int32" and labels.shape == (8,)
    eval_images = [
        _as_numpy(data.make_dataset(data_dir, "test", batch_size=8, training=False, image_size=24))
        for _ in range(2)
    ]
    np.testing.assert_array_equal(eval_images[0][0], eval_images[1][0])


def test_missing_path_raises_dataset_error_naming_it(tmp_path):
    missing = str(tmp_path / "no" / "such" / "dir")
    with pytest.raises(data.DatasetError, match="`dataset`") as info:
        data.resolve_dataset(missing)
    assert missing in str(info.value) and "cifar10_jpeg" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_directory_without_metadata_raises_dataset_error(tmp_path):
    with pytest.raises(data.DatasetError, match="dataset_info.json"):
        data.resolve_dataset(str(tmp_path))


def test_unknown_tfds_name_raises_dataset_error():
    with pytest.raises(data.DatasetError, match="not_a_tfds_dataset_xyz"):
        data.resolve_dataset("not_a_tfds_dataset_xyz")


def test_failed_download_raises_dataset_error(monkeypatch):
    class OfflineBuilder:
        data_dir_root = "/nonexistent/tensorflow_datasets"

        def is_prepared(self):
            return False

        def download_and_prepare(self):
            raise ConnectionError("no network")

    monkeypatch.setattr(tfds, "builder", lambda name: OfflineBuilder())
    # The host answers (so the download is tried) but the download fails.
    monkeypatch.setattr(data, "_reachable", lambda host, timeout=5.0: True)
    with pytest.raises(data.DatasetError, match="'cifar10'.*no network") as info:
        data.resolve_dataset("cifar10")
    assert isinstance(info.value.__cause__, ConnectionError)


def test_unknown_split_lists_available_splits(synthetic_dir):
    with pytest.raises(ValueError, match=r"`split`.*\['test', 'train'\].*split='validation'"):
        data.make_dataset(synthetic_dir, "validation", batch_size=8, training=False)
    with pytest.raises(ValueError, match=r"\['test', 'train'\]"):
        data.num_examples(synthetic_dir, "valid")


@pytest.mark.parametrize(
    "argument, value",
    [("batch_size", 0), ("batch_size", -4), ("batch_size", 2.5), ("take", 0), ("image_size", 0)],
)
def test_bad_sizes_raise_value_error(synthetic_dir, argument, value):
    kwargs = {"batch_size": 8, "training": False, argument: value}
    with pytest.raises(ValueError, match=f"`{argument}`.*{argument}={value}"):
        data.make_dataset(synthetic_dir, "train", **kwargs)


def test_unprepared_tfds_name_without_network_fails_fast(monkeypatch, tmp_path):
    import time

    from lcnet_tf import data

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))  # nothing prepared here
    monkeypatch.setattr(data, "_reachable", lambda host, timeout=5.0: False)
    start = time.monotonic()
    with pytest.raises(data.DatasetError, match=r"cannot be reached.*cifar10_jpeg"):
        data.resolve_dataset("cifar10")
    assert time.monotonic() - start < 60  # no download retries
