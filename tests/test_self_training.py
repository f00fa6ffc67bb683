"""captcha_ocr.data.self_training: only confident, well-formed reads become labels; self-training runs end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SMOKE, assert_user_error, run_module

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.config import load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.data.self_training import PseudoPool
from captcha_ocr.training.self_training import confident_reads, rounds_due

CHARSET = Charset("abc", max_length=3, min_length=1)  # classes a, b, c, pad


def logits_for(rows):
    """Logits that choose these class indices with these probabilities (softmax), one row per captcha."""
    out = []
    for classes, p in rows:
        z = np.full((3, 4), 0.0)
        for pos, c in enumerate(classes):
            # softmax: chosen class gets probability p, the 3 others (1 - p) / 3
            z[pos, c] = np.log(p * 3 / (1 - p))
        out.append(z)
    return np.array(out, np.float32)


def test_confident_reads_keeps_only_confident_well_formed_texts():
    logits = logits_for([
        ([0, 1, 2], 0.99),  # "abc", confident: kept
        ([0, 1, 3], 0.99),  # "ab" + pad, confident: kept
        ([2, 2, 2], 0.80),  # "ccc", not confident enough (0.8^3): dropped
        ([0, 3, 1], 0.99),  # "a_b": a pad between characters, not a label: dropped
        ([1, 0, 0], 0.97),  # "baa", confidence 0.97^3 = 0.913: kept
    ])
    keep, labels = confident_reads(logits, CHARSET, "softmax", 0.9)
    assert keep.tolist() == [0, 1, 4]
    assert labels.tolist() == [[0, 1, 2], [0, 1, 3], [1, 0, 0]]
    keep, _ = confident_reads(logits, CHARSET, "softmax", 0.95)
    assert keep.tolist() == [0, 1]


def frame_logits(rows):
    """ctc logits (log-probabilities) of frames over a, b, c and the blank (3): one list of {class: probability}
    per captcha, the rest of each frame's probability spread over its other classes."""
    out = []
    for frames in rows:
        probs = np.array([[f.get(k, (1 - sum(f.values())) / (4 - len(f))) for k in range(4)] for f in frames])
        out.append(np.log(probs))
    return np.array(out, np.float32)


def test_held_reads_keep_the_most_probable_path_of_an_allowed_length():
    charset = Charset("abc", max_length=2, min_length=2)
    logits = frame_logits([
        # greedy "abc" (a barely over the blank), cut to "ab"; held: "bc", the path without the unsure a
        [{0: 0.5, 3: 0.49}, {1: 0.997}, {2: 0.997}, {3: 0.997}],
        # greedy "a", too short: never a label; held: "ab", its second frame's b taken
        [{0: 0.997}, {3: 0.59, 1: 0.4}, {3: 0.997}, {3: 0.997}],
        # greedy "ca", as allowed: the same read both ways
        [{2: 0.997}, {3: 0.997}, {0: 0.997}, {3: 0.997}],
    ])
    keep, labels = confident_reads(logits, charset, "ctc", 0.3)
    assert keep.tolist() == [0, 2] and labels.tolist() == [[0, 1], [2, 0]]
    keep, labels = confident_reads(logits, charset, "ctc", 0.3, held=True)
    assert keep.tolist() == [0, 1, 2] and labels.tolist() == [[1, 2], [0, 1], [2, 0]]
    keep, _ = confident_reads(logits, charset, "ctc", 0.45, held=True)  # held paths' confidence: 0.49, 0.4
    assert keep.tolist() == [0, 2]


@pytest.mark.parametrize("share", ["0.5", "auto"])
def test_training_with_an_unlabeled_folder_relabels_it_each_round(generated_folder, workdir, tmp_path, share):
    run_dir = tmp_path / "pseudo"
    proc = run_module(
        "train", "--config", SMOKE, "--run-dir", run_dir, "--set", "data.source=folder",
        "--set", f"data.folder={generated_folder}", "--set", f"data.unlabeled_folder={generated_folder}",
        "--set", "data.split=[0.5, 0.25, 0.25]", "--set", "train.epochs=3", "--set", "data.pseudo_rounds=2",
        "--set", "data.pseudo_min_confidence=0.0", "--set", "train.batch_size=4", "--set", f"data.pseudo_share={share}",
        cwd=workdir, check=True)
    assert "self-training on 24 unlabeled images" in proc.stdout
    assert ("labeled images and the kept reads alike" if share == "auto" else "50% of each batch") in proc.stdout
    rounds = json.loads((run_dir / "metrics.json").read_text())["pseudo_rounds"]
    # 3 epochs in 3 stages: relabelled after epochs 1 and 2; at confidence 0 every well-formed read is kept
    assert [r["epoch"] for r in rounds] == [1, 2] and all(r["of"] == 24 for r in rounds)
    with open(run_dir / "history.csv") as fh:
        header = fh.readline().strip().split(",")
        rows = [dict(zip(header, line.strip().split(","))) for line in fh]
    assert [int(float(r["pseudo_labels"])) for r in rows] == [rounds[0]["kept"], rounds[1]["kept"], rounds[1]["kept"]]


FOLDER_RUN = ("--set", "data.source=folder", "--set", "data.split=[0.5, 0.25, 0.25]", "--set", "train.batch_size=4")


def _one_epoch_run(folder, workdir, parent: Path, loss: str) -> Path:
    run_dir = parent / "run"
    run_module("train", "--config", SMOKE, "--run-dir", run_dir, *FOLDER_RUN, "--set", f"data.folder={folder}",
               "--set", "train.epochs=1", "--set", f"loss.name={loss}", cwd=workdir, check=True)
    return run_dir


@pytest.fixture(scope="module")
def teacher(generated_folder, workdir, tmp_path_factory) -> Path:
    """A run trained with another loss (softmax) on the folder: it reads the smoke charset from the same input."""
    return _one_epoch_run(generated_folder, workdir, tmp_path_factory.mktemp("teacher"), "softmax")


@pytest.mark.parametrize("rounds", [0, 1])
def test_a_teacher_reads_the_unlabeled_images_before_the_first_epoch(teacher, generated_folder, workdir, tmp_path,
                                                                      rounds):
    from captcha_ocr.core.images import scale_pixels
    from captcha_ocr.data.folder import load_unlabeled
    from captcha_ocr.training.rundir import load_run

    run_dir = tmp_path / "student"
    proc = run_module(
        "train", "--config", SMOKE, "--run-dir", run_dir, *FOLDER_RUN, "--set", f"data.folder={generated_folder}",
        "--set", f"data.unlabeled_folder={generated_folder}", "--set", f"data.pseudo_teacher={teacher}",
        "--set", f"data.pseudo_rounds={rounds}", "--set", "data.pseudo_min_confidence=0.0", "--set", "train.epochs=2",
        cwd=workdir, check=True)
    assert f"the first reads by {teacher}" in proc.stdout
    # What the teacher keeps, worked out here: its softmax reads of the 24 images, decoded as softmax
    config = load_config(SMOKE, [])
    images, _ = load_unlabeled(generated_folder, config.image.shape)
    model = load_run(teacher)[0]
    kept, _ = confident_reads(model.predict(scale_pixels(images), verbose=0), config.charset.build(), "softmax", 0.0)
    assert len(kept) > 0
    rounds_made = json.loads((run_dir / "metrics.json").read_text())["pseudo_rounds"]
    assert rounds_made[0] == {"epoch": 0, "kept": len(kept), "of": 24, "by": "teacher"}
    assert [r["by"] for r in rounds_made[1:]] == ["model"] * rounds  # then the model's own rounds, if any
    with open(run_dir / "history.csv") as fh:
        header = fh.readline().strip().split(",")
        used = [int(float(dict(zip(header, line.strip().split(",")))["pseudo_labels"])) for line in fh]
    # Each epoch's row has the set in use when it ended: the teacher's all along, or the model's after its round
    assert used == ([len(kept)] * 2 if rounds == 0 else [rounds_made[1]["kept"]] * 2)


@pytest.mark.parametrize("sets, message", [
    (["data.pseudo_teacher={teacher}"], "data.pseudo_teacher reads the captchas of data.unlabeled_folder"),
    (["data.unlabeled_folder={folder}", "data.pseudo_rounds=0"], "data.pseudo_rounds is 0"),
    (["data.unlabeled_folder={folder}", "data.pseudo_teacher={teacher}", "image.width=96"],
     "has width 80 and this run 96"),
    (["data.unlabeled_folder={folder}", "data.pseudo_teacher={teacher}", "charset.chars=0123456789"],
     "has chars"),
    (["data.unlabeled_folder={folder}", "data.pseudo_teacher=runs/no-such-teacher"], "no-such-teacher"),
])
def test_a_teacher_that_cannot_read_for_the_run_is_refused(teacher, generated_folder, workdir, tmp_path, sets,
                                                            message):
    sets = [s.format(teacher=teacher, folder=generated_folder) for s in sets]
    proc = run_module("train", "--config", SMOKE, "--run-dir", tmp_path / "r", *FOLDER_RUN,
                      "--set", f"data.folder={generated_folder}", *(a for s in sets for a in ("--set", s)), cwd=workdir)
    assert_user_error(proc, message)
    assert not (tmp_path / "r").exists()


def test_unlabeled_folder_needs_the_folder_source(workdir, tmp_path):
    proc = run_module("train", "--config", SMOKE, "--set", f"data.unlabeled_folder={tmp_path}", "--run-dir",
                      tmp_path / "r", cwd=workdir)
    assert_user_error(proc, "data.unlabeled_folder is set but data.source is 'synthetic'")


def _drawn(pool, labeled_images, labeled_labels, union, count=4000):
    elements = pool._elements(labeled_images, labeled_labels, union)
    return [int(next(elements)[1][0]) for _ in range(count)]


def test_pseudo_share_auto_draws_every_labeled_image_and_kept_read_alike():
    # 10 labeled images (label 0) and 30 unlabeled ones, of which 5, then 30, are kept as reads (label 1)
    labeled_x, labeled_y = np.zeros((10, 2, 2, 1), np.uint8), np.zeros((10, 3), np.int32)
    pool = PseudoPool(np.ones((30, 2, 2, 1), np.uint8), max_length=3, seed=0)
    assert set(_drawn(pool, labeled_x, labeled_y, union=True)) == {0}  # nothing kept yet: labeled only
    pool.update(np.arange(5), np.ones((5, 3), np.int32))
    assert abs(np.mean(_drawn(pool, labeled_x, labeled_y, union=True)) - 5 / 15) < 0.03
    assert set(_drawn(pool, labeled_x, labeled_y, union=False)) == {1}  # a fixed share: the kept reads only
    pool.update(np.arange(30), np.ones((30, 3), np.int32))
    assert abs(np.mean(_drawn(pool, labeled_x, labeled_y, union=True)) - 30 / 40) < 0.03


def test_pseudo_share_is_a_fraction_or_auto(tmp_path):
    assert load_config(None, ["data.pseudo_share=auto"]).data.pseudo_share == "auto"
    assert load_config(None, ["data.pseudo_share=0.25"]).data.pseudo_share == 0.25
    for bad in ("1.5", "often"):
        try:
            load_config(None, [f"data.pseudo_share={bad}"])
        except UserError as e:
            assert "pseudo_share" in str(e)
        else:
            raise AssertionError(f"pseudo_share={bad} was accepted")


def test_the_rounds_follow_the_epochs_the_run_plans():
    # 24 epochs in 3 stages: relabeled after epochs 8 and 16
    assert [rounds_due(24, 2, done) for done in (7, 8, 15, 16, 24)] == [0, 1, 1, 2, 2]
    # a slower machine fits 12 of them into the budget: the stages end after epochs 4 and 8 instead,
    # so a run that learns of the plan after epoch 5 owes one round at once
    assert [rounds_due(12, 2, done) for done in (3, 5, 8)] == [0, 1, 2]
    assert rounds_due(3, 2, 1) == 1 and rounds_due(2, 2, 1) == 2  # short runs: at least one epoch first


@pytest.fixture(scope="module")
def ctc_teacher(generated_folder, workdir, tmp_path_factory) -> Path:
    """A ctc run on the folder: a teacher whose frames a ctc student can learn (data.pseudo_soft)."""
    return _one_epoch_run(generated_folder, workdir, tmp_path_factory.mktemp("ctc-teacher"), "ctc")


def test_soft_targets_give_the_kept_reads_the_teachers_probabilities_of_the_augmented_batch(ctc_teacher,
                                                                                           generated_folder):
    import tensorflow as tf

    from captcha_ocr.core.images import scale_pixels
    from captcha_ocr.data.folder import load_unlabeled
    from captcha_ocr.data.self_training import SOFT
    from captcha_ocr.model.decode import decode
    from captcha_ocr.training.rundir import load_run
    from captcha_ocr.training.self_training import soft_targets

    config = load_config(SMOKE, ["loss.name=ctc"])
    charset = config.charset.build()
    images = scale_pixels(load_unlabeled(generated_folder, config.image.shape)[0][:6])
    teacher = load_run(ctc_teacher)[0]
    logits = teacher.predict(images, verbose=0)
    want_probs = np.exp(logits - logits.max(-1, keepdims=True))
    want_probs /= want_probs.sum(-1, keepdims=True)
    _, _, want_reads = decode(logits, charset, "ctc", held=False)  # greedy, as self-training reads
    labels = np.array([[SOFT] * 4, [1, 2, 3, 4]] * 3, np.int32)  # kept reads and images a person labeled, in turn
    teach = soft_targets(teacher, 4)
    batch = tf.data.Dataset.from_tensors((images, labels)).map(teach)  # as training maps it
    for got_images, targets in [teach(tf.constant(images), tf.constant(labels)), next(iter(batch))]:
        targets = targets.numpy()
        np.testing.assert_array_equal(got_images, images)
        assert targets.shape == (6, 4 + int(np.prod(logits.shape[1:])))
        probs = targets[:, 4:].reshape(logits.shape)
        np.testing.assert_allclose(probs[0::2], want_probs[0::2], atol=1e-5)
        assert not probs[1::2].any()  # a person's label: no teacher
        np.testing.assert_array_equal(targets[0::2, :4], want_reads[0::2])
        np.testing.assert_array_equal(targets[1::2, :4], labels[1::2])


def test_a_soft_pool_marks_every_kept_read_for_the_teacher():
    from captcha_ocr.data.self_training import SOFT

    pool = PseudoPool(np.zeros((5, 2, 2, 1), np.uint8), 3, 0, soft=True)
    pool.update([0, 3], [[0, 1, 2], [2, 2, 3]])
    elements = pool._elements(np.zeros((0, 2, 2, 1), np.uint8), np.zeros((0, 3), np.int32), union=True)
    assert {tuple(next(elements)[1]) for _ in range(20)} == {(SOFT,) * 3}


def test_a_student_learns_its_teachers_probabilities_end_to_end(ctc_teacher, generated_folder, workdir, tmp_path):
    run_dir = tmp_path / "student"
    proc = run_module(
        "train", "--config", SMOKE, "--run-dir", run_dir, *FOLDER_RUN, "--set", f"data.folder={generated_folder}",
        "--set", f"data.unlabeled_folder={generated_folder}", "--set", f"data.pseudo_teacher={ctc_teacher}",
        "--set", "data.pseudo_rounds=0", "--set", "data.pseudo_soft=true", "--set", "data.pseudo_min_confidence=0.0",
        "--set", "data.pseudo_share=auto", "--set", "loss.name=ctc", "--set", "train.epochs=2", cwd=workdir,
        check=True)
    assert "its probabilities learned on each augmented batch" in proc.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["pseudo_rounds"] == [{"epoch": 0, "kept": 24, "of": 24, "by": "teacher"}]
    with open(run_dir / "history.csv") as fh:
        header = fh.readline().strip().split(",")
        losses = [float(dict(zip(header, line.strip().split(",")))["loss"]) for line in fh]
    assert len(losses) == 2 and all(np.isfinite(losses))


@pytest.mark.parametrize("sets, message", [
    (["data.pseudo_soft=true"], "data.pseudo_soft learns a teacher's probabilities all along"),
    (["data.unlabeled_folder={folder}", "data.pseudo_teacher={ctc}", "data.pseudo_soft=true"],
     "data.pseudo_rounds=0"),
    (["data.unlabeled_folder={folder}", "data.pseudo_teacher={ctc}", "data.pseudo_rounds=0", "data.pseudo_soft=true",
      "loss.name=softmax"], "loss.name is softmax"),
    (["data.unlabeled_folder={folder}", "data.pseudo_teacher={softmax}", "data.pseudo_rounds=0",
      "data.pseudo_soft=true", "loss.name=ctc"], "must be a ctc model of the same model.width_pools"),
    (["data.unlabeled_folder={folder}", "data.pseudo_teacher={ctc}", "data.pseudo_rounds=0",
      "data.pseudo_soft=true", "loss.name=ctc", "model.width_pools=1"], "must be a ctc model of the same"),
])
def test_a_soft_student_without_a_ctc_teacher_all_along_is_refused(teacher, ctc_teacher, generated_folder, workdir,
                                                                   tmp_path, sets, message):
    sets = [s.format(softmax=teacher, ctc=ctc_teacher, folder=generated_folder) for s in sets]
    proc = run_module("train", "--config", SMOKE, "--run-dir", tmp_path / "r", *FOLDER_RUN,
                      "--set", f"data.folder={generated_folder}", *(a for s in sets for a in ("--set", s)), cwd=workdir)
    assert_user_error(proc, message)
    assert not (tmp_path / "r").exists()
