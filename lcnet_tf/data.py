"""Input pipelines: TFDS datasets (by name or prepared directory) as uint8 image batches.

Every pipeline yields `(images, labels)` with `images` uint8 NHWC in 0..255, *not* normalised
(the models normalise inside, see `lcnet_tf.models.resnet.resnet_model`), and `labels`
int32 of shape `(batch,)`.

Example:

    builder = resolve_dataset("../shared/data/cifar10_jpeg")
    train_ds = make_dataset(builder, "train", batch_size=128, training=True, seed=0)
    test_ds = make_dataset(builder, "test", batch_size=500, training=False)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

SHUFFLE_BUFFER = 10_000
# CIFAR-style augmentation: reflect-pad `translate` pixels, random crop back (a random
# translation by up to `translate` pixels each way), then a horizontal flip.
CIFAR_PAD = 4
# "random": each image flipped with probability 1/2 on every pass; "alternating" (airbench):
# a fixed random half of the images is flipped on even passes and the other half on odd ones,
# so every two passes show each image both ways; "none": never flipped.
FLIPS = ("random", "alternating", "none")
# ImageNet-style data: the short side is resized to `image_size + RESIZE_MARGIN` before cropping
# `image_size` (256 -> 224 for the standard 224 crop).
RESIZE_MARGIN = 32

_HOW_TO_GET = (
    "Pass a TFDS name such as 'cifar10' (needs network access to download) or the path of a "
    "prepared TFDS directory, e.g. ../shared/data/cifar10_jpeg."
)


class DatasetError(ValueError):
    """A dataset that cannot be found, read or downloaded."""


def _looks_like_path(dataset: str) -> bool:
    return (
        os.sep in dataset
        or "/" in dataset
        or dataset.startswith((".", "/", "~"))
        or os.path.isdir(dataset)
    )


def resolve_dataset(dataset: str) -> tfds.core.DatasetBuilder:
    """Returns a prepared TFDS builder for a dataset name or a prepared TFDS directory.

    Args:
        dataset: A TFDS name (e.g. `"cifar10"`), downloaded and prepared into the default TFDS
            data dir if it is not there yet, or the path of a prepared TFDS directory (one
            holding `dataset_info.json`, e.g. `../shared/data/cifar10_jpeg`). Anything that
            contains a path separator, starts with ".", "/" or "~", or is an existing directory
            is taken as a path.

    Returns:
        A `tfds.core.DatasetBuilder` whose data is ready to read.

    Raises:
        DatasetError: The directory is missing or unreadable, the name is unknown to TFDS, or
            the download/preparation failed (e.g. no network access).

    Example:

        builder = resolve_dataset("../shared/data/cifar10_jpeg")
        builder.info.splits["train"].num_examples  # 50000
    """
    if not isinstance(dataset, str | os.PathLike) or not str(dataset):
        raise DatasetError(
            f"Invalid value for `dataset`: expected a non-empty TFDS name or directory path. "
            f"Received: dataset={dataset!r}. {_HOW_TO_GET}"
        )
    dataset = str(dataset)
    if _looks_like_path(dataset):
        return _builder_from_directory(dataset)
    return _builder_from_name(dataset)


def _builder_from_directory(dataset: str) -> tfds.core.DatasetBuilder:
    path = Path(dataset).expanduser()
    if not path.is_dir():
        raise DatasetError(
            f"Invalid value for `dataset`: {dataset!r} is not a prepared TFDS directory "
            f"(no such directory). {_HOW_TO_GET}"
        )
    if not (path / "dataset_info.json").is_file():
        raise DatasetError(
            f"Invalid value for `dataset`: {dataset!r} is not a prepared TFDS directory "
            f"(no dataset_info.json found). {_HOW_TO_GET}"
        )
    try:
        return tfds.builder_from_directory(str(path))
    except Exception as error:  # TFDS raises many types for corrupt or unreadable metadata.
        raise DatasetError(
            f"Invalid value for `dataset`: {dataset!r} is not a readable TFDS directory "
            f"({type(error).__name__}: {error}). {_HOW_TO_GET}"
        ) from error


def _download_host(builder) -> str:
    from urllib.parse import urlparse

    homepage = getattr(getattr(builder, "info", None), "homepage", None) or ""
    return urlparse(homepage).hostname or "storage.googleapis.com"


def _reachable(host: str, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to `host`:443 opens within `timeout` seconds.

    Checked before a TFDS download, which otherwise retries for minutes offline.
    """
    import socket

    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _builder_from_name(dataset: str) -> tfds.core.DatasetBuilder:
    try:
        builder = tfds.builder(dataset)
    except Exception as error:  # DatasetNotFoundError lists every TFDS name: keep it short.
        raise DatasetError(
            f"Invalid value for `dataset`: {dataset!r} is not a known TFDS name and not an "
            f"existing directory ({type(error).__name__}). {_HOW_TO_GET}"
        ) from error
    if not builder.is_prepared():
        host = _download_host(builder)
        # Behind a proxy a direct connection proves nothing: let TFDS try.
        proxied = any(os.environ.get(name) for name in (
            "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"))
        if not proxied and not _reachable(host):
            raise DatasetError(
                f"Invalid value for `dataset`: TFDS dataset {dataset!r} is not prepared in "
                f"{builder.data_dir_root} and its download host {host} cannot be reached (no "
                f"network?). {_HOW_TO_GET}"
            )
        try:
            builder.download_and_prepare()
        except Exception as error:  # Network, permission and missing-dependency errors alike.
            raise DatasetError(
                f"Invalid value for `dataset`: TFDS dataset {dataset!r} is not prepared in "
                f"{builder.data_dir_root} and downloading it failed "
                f"({type(error).__name__}: {error}). {_HOW_TO_GET}"
            ) from error
    return builder


def _as_builder(builder_or_name) -> tfds.core.DatasetBuilder:
    if isinstance(builder_or_name, tfds.core.DatasetBuilder):
        return builder_or_name
    return resolve_dataset(builder_or_name)


def _check_split(builder: tfds.core.DatasetBuilder, split: str) -> None:
    available = sorted(builder.info.splits.keys())
    # Accept TFDS split expressions such as "train[:10%]" or "train+test".
    names = [part.split("[")[0].strip() for part in str(split).split("+")]
    if not isinstance(split, str) or not all(name in available for name in names):
        raise ValueError(
            f"Invalid value for `split`: expected one of {available} (optionally with TFDS "
            f"slicing, e.g. 'train[:10%]'). Received: split={split!r}"
        )


def _check_positive_int(name: str, value, *, optional: bool) -> None:
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        allowed = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(
            f"Invalid value for `{name}`: expected {allowed}. Received: {name}={value!r}"
        )


def num_examples(builder, split: str) -> int:
    """Returns the number of examples in a split.

    Args:
        builder: A `tfds.core.DatasetBuilder`, or anything `resolve_dataset` accepts.
        split: A split name (e.g. `"train"`) or TFDS split expression (e.g. `"train[:10%]"`).

    Returns:
        The number of examples, before any `take`.

    Example:

        num_examples(resolve_dataset("../shared/data/cifar10_jpeg"), "test")  # 10000
    """
    builder = _as_builder(builder)
    _check_split(builder, split)
    return int(builder.info.splits[split].num_examples)


def _to_uint8(image: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def _resize_short_side(image: tf.Tensor, short_side: int) -> tf.Tensor:
    shape = tf.shape(image)
    height = tf.cast(shape[0], tf.float32)
    width = tf.cast(shape[1], tf.float32)
    scale = short_side / tf.minimum(height, width)
    new_size = tf.maximum(
        tf.cast(tf.round(tf.stack([height * scale, width * scale])), tf.int32), short_side
    )
    resized = tf.image.resize(image, new_size, method="bilinear", antialias=True)
    return _to_uint8(resized)


def _center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    shape = tf.shape(image)
    top = (shape[0] - size) // 2
    left = (shape[1] - size) // 2
    return image[top : top + size, left : left + size, :]


def make_dataset(
    builder_or_name,
    split: str,
    *,
    batch_size: int,
    training: bool,
    image_size: int | None = None,
    seed: int | None = None,
    cache: bool = True,
    drop_remainder: bool | None = None,
    take: int | None = None,
    repeat: bool = False,
    flip: str = "random",
    translate: int = CIFAR_PAD,
) -> tf.data.Dataset:
    """Builds a batched `(images, labels)` pipeline over one split of a TFDS dataset.

    Images are decoded in parallel, cached (decoded, before any augmentation) when `cache` is
    set, then augmented, batched and prefetched. Images stay uint8 in 0..255: normalisation is
    the model's job.

    Augmentation when `training`:
      * CIFAR-style (`image_size=None`): reflect-pad `translate` (4) pixels on each side,
        random crop back to the original size (32x32 for CIFAR), horizontal flip (`flip`).
      * ImageNet-style (`image_size` given): the short side is resized to `image_size + 32`
        (before the cache), then a random `image_size` square crop and a random horizontal flip.

    Evaluation (`training=False`) is deterministic: no shuffling, no augmentation; with
    `image_size` the short side is resized to `image_size + 32` and the centre square of
    `image_size` is cropped.

    Args:
        builder_or_name: A `tfds.core.DatasetBuilder`, or a TFDS name / prepared TFDS directory
            (see `resolve_dataset`).
        split: Split name, e.g. `"train"` or `"test"`, or a TFDS split expression.
        batch_size: Images per batch, > 0.
        training: Shuffle (files and a 10,000-example buffer) and augment.
        image_size: Output height and width for ImageNet-style data; `None` keeps the stored
            size (CIFAR).
        seed: Seeds file shuffling, the shuffle buffer and the augmentation. With `None` every
            run differs. Training order is still not bit-reproducible (parallel maps run with
            `deterministic=False` for speed).
        cache: Keep decoded images in memory after the first pass.
        drop_remainder: Drop the last partial batch. Defaults to `training`.
        take: Use only the first `take` examples of the split (before batching): quick runs,
            tests, calibration. With `training=True` and `seed=None`, which examples those are
            varies from run to run because the files are shuffled.
        repeat: Repeat indefinitely (each pass reshuffled and re-augmented).
        flip: Horizontal flips in training, one of `FLIPS`: "random" (probability 1/2 per
            image and pass), "alternating" (airbench: a fixed random decision per image,
            keyed by `seed` and the image's encoded bytes, inverted on every odd pass over
            the data; passes, not Keras epochs) or "none".
        translate: CIFAR-style only: the reflect padding, i.e. the largest random
            translation in pixels each way (0: none). ImageNet-style data takes random crops
            of the resized image instead and needs the default.

    Returns:
        A `tf.data.Dataset` of `(images, labels)`: uint8 `(batch, height, width, 3)` and int32
        `(batch,)`.

    Raises:
        ValueError: An unknown split, a non-positive `batch_size`, `image_size` or `take`, an
            unknown `flip`, or a `translate` that is negative, not smaller than the images
            or set for ImageNet-style data.
        DatasetError: `builder_or_name` cannot be resolved.

    Example:

        train_ds = make_dataset("../shared/data/cifar10_jpeg", "train", batch_size=128,
                                training=True, seed=0)
        images, labels = next(iter(train_ds))  # uint8 (128, 32, 32, 3), int32 (128,)
    """
    _check_positive_int("batch_size", batch_size, optional=False)
    _check_positive_int("image_size", image_size, optional=True)
    _check_positive_int("take", take, optional=True)
    builder = _as_builder(builder_or_name)
    _check_split(builder, split)
    if drop_remainder is None:
        drop_remainder = bool(training)

    image_feature = builder.info.features["image"]
    stored_shape = tuple(image_feature.shape)
    _check_augmentation(flip, translate, image_size, stored_shape)
    alternating = training and flip == "alternating"
    read_config = tfds.ReadConfig(shuffle_seed=seed, try_autocache=False)
    dataset = builder.as_dataset(
        split=split,
        shuffle_files=training,
        read_config=read_config,
        decoders={"image": tfds.decode.SkipDecoding()},
    )
    if take is not None:
        dataset = dataset.take(take)

    def decode(example):
        image = tf.io.decode_image(example["image"], channels=3, expand_animations=False)
        if None not in stored_shape and stored_shape[-1] == 3:
            image.set_shape(stored_shape)
        else:
            image.set_shape((None, None, 3))
        if image_size is not None:
            image = _resize_short_side(image, image_size + RESIZE_MARGIN)
        label = tf.cast(example["label"], tf.int32)
        if alternating:  # The image's own flip decision, fixed across passes.
            return image, label, _fixed_flip(example["image"], seed)
        return image, label

    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if alternating:
        # Position in the repeated stream // examples per pass = the pass (shuffle and repeat
        # keep every pass whole).
        pass_size = num_examples(builder, split)
        pass_size = min(pass_size, take) if take is not None else pass_size
        dataset = dataset.enumerate().map(
            lambda position, example: (*example, (position // pass_size) % 2 == 1)
        )

    if training:
        # One independent stateless seed pair per example, fresh on every pass.
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds))

        def augment(example, example_seed):
            image, label = example[:2]
            crop_seed, flip_seed = tf.unstack(
                tf.random.experimental.stateless_split(example_seed, num=2)
            )
            if image_size is None:
                padding = [[translate, translate], [translate, translate], [0, 0]]
                crop_shape = tf.shape(image)
                image_shape = image.shape
                image = tf.pad(image, padding, mode="REFLECT")
            else:
                crop_shape = tf.constant([image_size, image_size, 3])
                image_shape = tf.TensorShape([image_size, image_size, 3])
            image = tf.image.stateless_random_crop(image, crop_shape, seed=crop_seed)
            if flip == "random":
                image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
            elif alternating:
                fixed_flip, odd_pass = example[2:]
                image = tf.cond(tf.math.logical_xor(fixed_flip, odd_pass),
                                lambda: tf.image.flip_left_right(image), lambda: image)
            image.set_shape(image_shape)
            return image, label

        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    elif image_size is not None:

        def center_crop(image, label):
            image = _center_crop(image, image_size)
            image.set_shape((image_size, image_size, 3))
            return image, label

        dataset = dataset.map(center_crop, num_parallel_calls=tf.data.AUTOTUNE)

    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _check_augmentation(flip, translate, image_size, stored_shape):
    if flip not in FLIPS:
        raise ValueError(
            f"Invalid value for `flip`: expected one of {FLIPS}. Received: flip={flip!r}"
        )
    spatial = [size for size in stored_shape[:2] if size is not None]
    largest = min(spatial) - 1 if spatial else None
    if (isinstance(translate, bool) or not isinstance(translate, int | np.integer)
            or translate < 0 or (largest is not None and translate > largest)):
        bound = f" <= {largest} (reflect padding of {min(spatial)}-pixel images)" if spatial \
            else ""
        raise ValueError(
            f"Invalid value for `translate`: expected an int >= 0{bound}. "
            f"Received: translate={translate!r}"
        )
    if image_size is not None and translate != CIFAR_PAD:
        raise ValueError(
            f"Invalid value for `translate`: expected {CIFAR_PAD} (the default) with "
            f"`image_size` (ImageNet-style data is cropped from the resized image, not "
            f"translated). Received: translate={translate!r}"
        )


def _fixed_flip(encoded_image, seed):
    """A per-image coin flip that depends only on the image's encoded bytes and `seed`."""
    key = [0, 0] if seed is None else [int(seed) & (2**64 - 1), 0x5EED]
    return tf.strings.to_hash_bucket_strong(encoded_image, 2, key=key) == 1


def make_synthetic_tfds_dir(
    path,
    *,
    num_train: int = 64,
    num_test: int = 32,
    image_size: int = 32,
    num_classes: int = 10,
    seed: int = 0,
) -> str:
    """Writes a tiny prepared TFDS directory with CIFAR-10's features, readable offline.

    The features match TFDS `cifar10`: `id` (text), `image` (uint8 `[image_size, image_size,
    3]`, PNG-encoded, so pixels round-trip exactly) and `label` (`ClassLabel`). Each image is a
    class-specific colour plus noise, so a model can learn the labels. Labels cycle through all
    classes, then are shuffled. The same arguments always write the same examples.

    Args:
        path: Directory to write into; created if missing, must be empty if it exists.
        num_train: Examples in the `train` split, > 0.
        num_test: Examples in the `test` split, > 0.
        image_size: Height and width of every image, > 0.
        num_classes: Number of classes, > 0.
        seed: NumPy seed for the pixels and the label order.

    Returns:
        `path` as a string, ready for `resolve_dataset` / `tfds.builder_from_directory`.

    Raises:
        ValueError: A non-positive size, or `path` is a non-empty directory.

    Example:

        data_dir = make_synthetic_tfds_dir(tmp_path / "synthetic")
        builder = resolve_dataset(data_dir)  # splits: train (64), test (32)
    """
    for name, value in (
        ("num_train", num_train),
        ("num_test", num_test),
        ("image_size", image_size),
        ("num_classes", num_classes),
    ):
        _check_positive_int(name, value, optional=False)
    directory = Path(path).expanduser()
    if directory.exists() and any(directory.iterdir()):
        raise ValueError(
            f"Invalid value for `path`: expected a missing or empty directory. "
            f"Received: path={str(path)!r} (not empty)"
        )
    directory.mkdir(parents=True, exist_ok=True)

    features = tfds.features.FeaturesDict(
        {
            "id": tfds.features.Text(),
            "image": tfds.features.Image(shape=(image_size, image_size, 3)),
            "label": tfds.features.ClassLabel(num_classes=num_classes),
        }
    )
    rng = np.random.default_rng(seed)
    class_colors = rng.integers(32, 224, size=(num_classes, 3))
    dataset_name = "synthetic_cifar"
    shard_bytes = {}
    for split, count in (("train", num_train), ("test", num_test)):
        labels = rng.permutation(np.arange(count) % num_classes)
        noise = rng.integers(-32, 33, size=(count, image_size, image_size, 3))
        images = np.clip(class_colors[labels][:, None, None, :] + noise, 0, 255).astype(np.uint8)
        shard = directory / f"{dataset_name}-{split}.tfrecord-00000-of-00001"
        with tf.io.TFRecordWriter(str(shard)) as writer:
            for index in range(count):
                example = {
                    "id": f"{split}_{index:05d}",
                    "image": images[index],
                    "label": int(labels[index]),
                }
                writer.write(features.serialize_example(example))
        shard_bytes[split] = shard.stat().st_size

    split_infos = [
        tfds.core.SplitInfo(name=split, shard_lengths=[count], num_bytes=shard_bytes[split])
        for split, count in (("train", num_train), ("test", num_test))
    ]
    tfds.folder_dataset.write_metadata(
        data_dir=str(directory),
        features=features,
        split_infos=split_infos,
        version="1.0.0",
        description=f"Synthetic CIFAR-10-like data (seed={seed}) for tests.",
    )
    return str(directory)
