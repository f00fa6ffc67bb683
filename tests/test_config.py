from pathlib import Path

import pytest
import yaml
from conftest import CONFIGS

from captcha_ocr.core.config import Config, load_config, parse_overrides
from captcha_ocr.core.errors import UserError


def test_base_yaml_lists_every_key_with_its_default():
    raw = yaml.safe_load((CONFIGS / "base.yaml").read_text())
    assert raw == Config().to_dict()


@pytest.mark.parametrize("path", sorted(str(p.relative_to(CONFIGS)) for p in CONFIGS.rglob("*.yaml")))
def test_every_shipped_config_loads_and_documents_how_to_run(path):
    load_config(CONFIGS / path)
    header = (CONFIGS / path).read_text().splitlines()[0]
    assert header.startswith("#"), "each config starts with a comment saying what it is for"
    assert "captcha_ocr" in (CONFIGS / path).read_text(), "each config says how to run it"


def test_loss_variants_differ_from_base_only_in_the_loss():
    base = Config().to_dict()
    for name in ("sigmoid", "softmax", "sparse_softmax"):
        cfg = load_config(CONFIGS / f"{name}.yaml").to_dict()
        assert cfg["loss"]["name"] == name
        assert {k for k in cfg if cfg[k] != base[k]} <= {"loss"} | set(yaml.safe_load((CONFIGS / f"{name}.yaml").read_text()))


def test_set_overrides_and_types():
    cfg = load_config(CONFIGS / "smoke.yaml", ["train.batch_size=8", "model.filters=[4, 8]", "loss.name=softmax"])
    assert cfg.train.batch_size == 8 and cfg.model.filters == [4, 8] and cfg.loss.name == "softmax"
    assert parse_overrides(["a.b=1", "a.c=x"]) == {"a": {"b": 1, "c": "x"}}


def test_config_is_frozen():
    with pytest.raises(Exception):
        Config().train.batch_size = 3


@pytest.mark.parametrize("overrides, fragments", [
    (["train.batchsize=8"], ["unknown key 'train.batchsize'", "did you mean 'train.batch_size'"]),
    (["modle.filters=[1]"], ["unknown key 'modle'", "did you mean 'model'"]),
    (["train.epochs=many"], ["key 'train.epochs'", "integer"]),
    (["loss.name=softmx"], ["key 'loss.name'", "did you mean 'softmax'"]),
    (["model.activation=relux"], ["'relu', 'leaky_relu'"]),
    (["data.split=[0.5, 0.5]"], ["data.split"]),
    (["train.batch_size"], ["expected key=value"]),
])
def test_bad_config_names_key_and_file(overrides, fragments):
    with pytest.raises(UserError) as err:
        load_config(CONFIGS / "smoke.yaml", overrides)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_unknown_key_in_file_names_file(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  learning_rat: 0.1\n")
    with pytest.raises(UserError) as err:
        load_config(bad)
    assert str(bad) in str(err.value) and "did you mean 'train.learning_rate'" in str(err.value)


def test_missing_and_malformed_files(tmp_path: Path):
    with pytest.raises(UserError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(UserError, match="mapping"):
        load_config(bad)


def test_a_recipe_is_found_by_name_from_any_folder(tmp_path: Path, monkeypatch):
    from captcha_ocr.core.config import RECIPES, config_path, recipe_names

    monkeypatch.chdir(tmp_path)  # no configs/ here, as after pip install . outside the checkout
    assert config_path("quickstart") == RECIPES / "quickstart.yaml"
    assert config_path("quickstart.yaml") == RECIPES / "quickstart.yaml"
    assert config_path("configs/quickstart.yaml") == RECIPES / "quickstart.yaml"
    assert config_path("activations/elu") == RECIPES / "activations" / "elu.yaml"
    assert load_config("smoke") == load_config(CONFIGS / "smoke.yaml")
    assert {"quickstart", "smoke", "finetune_ctc", "activations/elu"} <= set(recipe_names())
    # The checkout's configs/ is the same folder.
    assert CONFIGS.resolve() == RECIPES.resolve()


def test_an_existing_file_wins_over_a_recipe_of_its_name(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "smoke.yaml").write_text("train: {epochs: 7}\n")
    assert load_config("smoke.yaml").train.epochs == 7
    assert load_config("smoke").train.epochs == 2  # no file named `smoke`: the recipe


def test_an_unknown_recipe_lists_the_known_ones(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as err:
        load_config("quickstrat")
    message = str(err.value)
    assert "not found (did you mean 'quickstart'?)" in message and "finetune_ctc" in message
