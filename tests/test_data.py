import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, SMOKE
from PIL import Image

from captcha_ocr.core.config import load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.data.pipeline import _scale, build_datasets, synthetic_set
from captcha_ocr.data.pipeline import test_set as load_test_set
from captcha_ocr.synth.imagecaptcha import GeneratorSpec, render


@pytest.fixture
def config(tmp_path):
    return load_config(SMOKE, [f"data.cache_dir={tmp_path / 'cache'}"])


def test_scale_on_arrays_eager_tensors_and_inside_tf_data():
    images = np.array([[[[0], [255]], [[128], [64]]]], np.uint8)
    labels = np.zeros((1, 4), np.int32)
    array, _ = _scale(images, labels)
    eager, _ = _scale(tf.constant(images), labels)
    mapped, mapped_labels = next(iter(tf.data.Dataset.from_tensor_slices((images, labels)).map(_scale)))
    assert array.dtype == np.float32 and eager.dtype == mapped.dtype == tf.float32
    for out in (array[0], eager.numpy()[0], mapped.numpy()):
        np.testing.assert_allclose(out[..., 0], [[0.0, 1.0], [128 / 255, 64 / 255]])
    # bit-identical, so prediction (NumPy) and training and export (TensorFlow) see the same inputs
    assert np.array_equal(array, eager.numpy())
    assert mapped_labels.dtype == tf.int32


def test_fixed_sets_are_cached_and_reproducible(config, tmp_path):
    x1, y1 = synthetic_set(config, "val", 0, 64)
    files = list((tmp_path / "cache").glob("val-0-64-*.npz"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime
    x2, y2 = synthetic_set(config, "val", 0, 64)
    assert files[0].stat().st_mtime == mtime and np.array_equal(x1, x2) and np.array_equal(y1, y2)
    # a config change that alters the pixels gets its own cache entry
    other = load_config(SMOKE, [f"data.cache_dir={tmp_path / 'cache'}", "image.channels=3"])
    x3, _ = synthetic_set(other, "val", 0, 64)
    assert x3.shape[-1] == 3 and len(list((tmp_path / "cache").glob("val-0-64-*.npz"))) == 2


def test_pipeline_elements(config):
    data = build_datasets(config)
    images, labels = next(iter(data.train))
    assert images.dtype == tf.float32 and tuple(images.shape) == (32, 30, 80, 1)
    assert labels.dtype == tf.int32 and tuple(labels.shape) == (32, 4)
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    assert data.steps_per_epoch == 256 // 32
    val1 = np.concatenate([y for _, y in data.val])
    val2 = np.concatenate([y for _, y in build_datasets(config).val])
    assert np.array_equal(val1, val2), "validation data is fixed, not redrawn"
    assert data.test_images.shape == (64, 30, 80, 1)
    assert not np.array_equal(val1, data.test_labels[: len(val1)])


def test_endless_stream_comes_from_worker_processes_in_order(tmp_path):
    config = load_config(SMOKE, [f"data.cache_dir={tmp_path}", "data.train_size=0", "train.steps_per_epoch=3",
                                 "data.workers=2"])
    data = build_datasets(config)
    batches = list(data.train.take(3))
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    ref_x, ref_y = render(GeneratorSpec.from_config(config), 0, "train", 128, config.image.shape, workers=1)
    assert np.array_equal(labels, ref_y[:96])
    np.testing.assert_allclose(images, ref_x[:96] / 255.0, atol=1e-6)
    # a resumed run continues the stream after the 3 x 32 captchas of its first epoch
    resumed = build_datasets(config, initial_epoch=1)
    assert np.array_equal(next(iter(resumed.train))[1].numpy(), ref_y[96:128])


def test_stream_needs_steps_per_epoch(config):
    with pytest.raises(UserError, match="steps_per_epoch"):
        build_datasets(load_config(SMOKE, ["data.train_size=0"]))


def test_folder_source_splits_by_fraction(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (30, 80, 3), dtype=np.uint8)).save(folder / f"ab{i % 10}_{i}.png")
    config = load_config(SMOKE, ["data.source=folder", f"data.folder={folder}", "data.split=[0.5, 0.25, 0.25]",
                                 "train.batch_size=4"])
    data = build_datasets(config)
    assert data.steps_per_epoch == 20 // 4
    assert sum(len(y) for _, y in data.val) == 10
    assert len(data.test_labels) == 10
    x, y = load_test_set(config)
    assert np.array_equal(y, data.test_labels)


def test_folder_mixed_with_synthetic_at_the_configured_ratio(generated_folder, tmp_path):
    config = load_config(SMOKE, ["data.source=folder", f"data.folder={generated_folder}", "data.synthetic_ratio=0.75",
                                 f"data.cache_dir={tmp_path}", "data.split=[0.5, 0.25, 0.25]", "train.batch_size=50"])
    data = build_datasets(config)
    assert data.steps_per_epoch == 1  # 12 folder images are 25% of 48 a pass: less than one batch of 50
    folder_labels = {tuple(row) for row in build_datasets(load_config(
        SMOKE, ["data.source=folder", f"data.folder={generated_folder}", "data.split=[0.5, 0.25, 0.25]",
                "train.batch_size=12"])).train.take(1).as_numpy_iterator().next()[1]}
    labels = np.concatenate([y for _, y in data.train.take(8).as_numpy_iterator()])
    from_folder = np.mean([tuple(row) in folder_labels for row in labels])
    assert 0.15 < from_folder < 0.35, from_folder  # 25% folder, 75% synthetic


def test_a_runs_saved_config_names_the_same_cache_as_the_config_it_was_trained_with(tmp_path):
    """`rotation: [-30, 30]` (the defaults) and [-30.0, 30.0] (config.yaml read back) are one cache entry."""
    from captcha_ocr.core.config import config_from_dict, read_yaml, save_config
    from captcha_ocr.data.pipeline import cache_path

    for path in ("configs/quickstart.yaml", "configs/base_model.yaml", SMOKE):
        config = load_config(ROOT / path if isinstance(path, str) else path)
        save_config(config, tmp_path / "config.yaml")
        saved = config_from_dict(read_yaml(tmp_path / "config.yaml"))
        for split in ("val", "test"):
            assert cache_path(saved, split, 0, 100) == cache_path(config, split, 0, 100)
    other = load_config(SMOKE, ["generator.rotation=[-20, 20]"])
    assert cache_path(other, "test", 0, 100) != cache_path(load_config(SMOKE), "test", 0, 100)


def test_a_truncated_or_foreign_cache_file_is_rendered_again(config, tmp_path):
    """A cache left half-written (by a kill under an older version) or of the wrong size is not trusted."""
    from captcha_ocr.data.pipeline import cache_path, synthetic_set

    images, labels = synthetic_set(config, "val", 0, 64)
    path = cache_path(config, "val", 0, 64)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 3])
    again, again_labels = synthetic_set(config, "val", 0, 64)
    np.testing.assert_array_equal(again, images)
    np.testing.assert_array_equal(again_labels, labels)

    np.savez(path, images=images[:10], labels=labels[:10])  # readable, but not the 64 asked for
    assert len(synthetic_set(config, "val", 0, 64)[0]) == 64
    assert not [p for p in path.parent.iterdir() if ".tmp" in p.name]  # no temporary file left behind


def test_a_mix_begun_at_element_k_is_the_whole_mix_from_k():
    """Two sources mixed by (seed, position): resuming at element k draws what an unbroken run draws."""
    from captcha_ocr.data.pipeline import _mix

    def source(offset):
        return lambda at: tf.data.Dataset.range(offset + at, offset + 10**6)

    def first(count, start):
        return [int(x) for x in _mix(source(0), source(10**7), 0.3, 5, start).take(count)]

    whole = first(9000, 0)
    assert 0.25 < np.mean([x >= 10**7 for x in whole]) < 0.35
    for k in (1, 4095, 4096, 5000):  # within the first block of choices, at its end, past it
        assert first(9000 - k, k) == whole[k:]
