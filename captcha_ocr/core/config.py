"""The typed configuration: defaults here, YAML files and `--set` overrides on top.

A config file holds only what differs from the defaults (which `configs/base.yaml` lists in
full, with a comment on each key; a test keeps the two equal). Loading rejects unknown keys
(suggesting the nearest valid one) and wrong types, naming the file and the key path.

The shipped configs (the recipes) are package data in `captcha_ocr/recipes/` (the checkout's `configs/` points
there), so an installed package has them too: `--config quickstart` names one, and a path that is not a file
(`configs/quickstart.yaml` outside a checkout) falls back to the recipe of that name; a file always wins.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Sequence, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from captcha_ocr.core.charset import DEFAULT_CHARS, Charset
from captcha_ocr.core.choices import ACTIVATIONS, GENERATOR_KINDS, HEADS, LOSSES, RESIZE_MODES, is_frame_loss
from captcha_ocr.core.errors import UserError, did_you_mean
from captcha_ocr.core.spec import InputShape


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CharsetConfig(_Section):
    chars: str = DEFAULT_CHARS
    min_length: int = Field(4, ge=1)
    max_length: int = Field(4, ge=1)
    pad: str = "_"

    def build(self) -> Charset:
        return Charset(chars=self.chars, max_length=self.max_length, min_length=self.min_length, pad=self.pad)


class ImageConfig(_Section):
    width: int = Field(160, ge=8)
    height: int = Field(60, ge=8)
    channels: Literal[1, 3] = 1
    resize: Literal[RESIZE_MODES] = "stretch"

    @property
    def shape(self) -> InputShape:
        """The model input as (height, width, channels)."""
        return InputShape(self.height, self.width, self.channels)


def _range(lo, hi):
    return Field([lo, hi], min_length=2, max_length=2)


class GeneratorConfig(_Section):
    """How synthetic captchas look; the defaults are `captcha.ImageCaptcha`'s own. With `kind: broad` the look
    comes from `captcha_ocr.synth.broad` and only the charset section applies: the style keys below are ImageCaptcha's.
    """

    kind: Literal[GENERATOR_KINDS] = "imagecaptcha"
    width: int = Field(160, ge=16)
    height: int = Field(60, ge=16)
    fonts: list[str] = []
    font_sizes: list[int] = [42, 50, 56]
    background: list[int] = _range(238, 255)
    text_color: list[int] = _range(10, 200)
    text_alpha: list[int] = _range(220, 255)
    noise_dots: int = Field(30, ge=0)
    noise_dot_width: int = Field(3, ge=1)
    noise_curves: int = Field(1, ge=0)
    rotation: list[float] = _range(-30, 30)
    warp_dx: list[float] = _range(0.1, 0.3)
    warp_dy: list[float] = _range(0.2, 0.3)
    offset_dx: list[int] = _range(0, 4)
    offset_dy: list[int] = _range(0, 6)
    space_probability: float = Field(0.5, ge=0, le=1)
    overlap: float = Field(0.25, ge=0, le=1)

    @field_validator("font_sizes")
    @classmethod
    def _sizes(cls, v):
        if not v or min(v) < 4:
            raise ValueError("font_sizes needs at least one size of 4 points or more")
        return v

    @field_validator("background", "text_color", "text_alpha")
    @classmethod
    def _colour_range(cls, v):
        if not 0 <= v[0] <= v[1] <= 255:
            raise ValueError("a colour range is [low, high] with 0 <= low <= high <= 255")
        return v

    @field_validator("rotation", "warp_dx", "warp_dy", "offset_dx", "offset_dy")
    @classmethod
    def _ordered(cls, v):
        if v[0] > v[1]:
            raise ValueError("a range is [low, high] with low <= high")
        return v


class DataConfig(_Section):
    source: Literal["synthetic", "folder"] = "synthetic"
    train_size: int = Field(20000, ge=0)
    val_size: int = Field(1000, ge=1)
    test_size: int = Field(1000, ge=1)
    folder: Optional[str] = None
    val_folder: Optional[str] = None
    test_folder: Optional[str] = None
    split: list[float] = [0.8, 0.1, 0.1]
    synthetic_ratio: float = Field(0.0, ge=0, lt=1)
    unlabeled_folder: Optional[str] = None
    pseudo_rounds: int = Field(2, ge=0)  # 0: a pseudo_teacher's reads only
    pseudo_teacher: Optional[str] = None  # a model whose reads start self-training: captcha_ocr/data/self_training.py
    pseudo_min_confidence: float = Field(0.9, ge=0, le=1)
    pseudo_share: Union[Literal["auto"], Annotated[float, Field(gt=0, lt=1)]] = 0.5  # auto: captcha_ocr/data/self_training.py
    pseudo_soft: bool = False  # kept reads teach the teacher's frame probabilities on each augmented batch (ctc)
    pseudo_held: bool = False  # ctc reads held to the charset's lengths before they are kept (else greedy)
    workers: int = Field(0, ge=0)
    service: Optional[str] = None  # grpc://HOST:PORT of a tf.data service dispatcher (captcha_ocr.data_service)
    cache_dir: str = "data/cache"

    @field_validator("split")
    @classmethod
    def _split_sums_to_one(cls, v):
        if len(v) != 3 or any(x < 0 for x in v) or abs(sum(v) - 1.0) > 1e-6:
            raise ValueError("split needs three non-negative fractions (train, val, test) that sum to 1")
        return v


class AugmentConfig(_Section):
    enabled: bool = False
    shift: float = Field(0.05, ge=0, lt=0.5)
    rotation: float = Field(5.0, ge=0, le=45)
    scale: float = Field(0.1, ge=0, lt=0.5)
    contrast: float = Field(0.3, ge=0, lt=1)
    blur: float = Field(0.2, ge=0, le=1)
    stretch: float = Field(0.0, ge=0, lt=0.5)  # width alone scaled within 1 ± stretch: narrower and wider fonts
    shear: float = Field(0.0, ge=0, le=30)  # degrees of slant either way: upright and italic fonts
    warp: float = Field(0.0, ge=0, le=0.2)  # a smooth local warp, each pixel moved up to this × the height
    lines: float = Field(0.0, ge=0, le=1)  # the chance (twice per image) of a curve drawn across it


class ModelConfig(_Section):
    filters: list[int] = [32, 64, 128, 128]
    kernel_size: int = Field(3, ge=1)
    strides: int = Field(1, ge=1)
    padding: Literal["same", "valid"] = "same"
    pool: Literal["max", "avg", "none"] = "max"
    pool_size: int = Field(2, ge=1)
    activation: Literal[ACTIVATIONS] = "relu"
    bn_momentum: float = Field(0.99, gt=0, lt=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    width_pools: Optional[int] = Field(None, ge=0)
    head_units: int = Field(0, ge=0)
    head_dropout: float = Field(0.25, ge=0, lt=1)
    rnn_units: int = Field(0, ge=0)
    convs_per_block: int = Field(1, ge=1)
    residual: bool = False
    head: Literal[HEADS] = "dense"
    attention_heads: int = Field(4, ge=1)


class LossConfig(_Section):
    name: Literal[LOSSES] = "sigmoid"
    label_smoothing: float = Field(0.0, ge=0, lt=1)


class TrainConfig(_Section):
    batch_size: int = Field(64, ge=1)
    epochs: int = Field(10, ge=1)
    steps_per_epoch: int = Field(0, ge=0)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0)
    schedule: Literal["constant", "cosine", "onecycle"] = "constant"
    warmup_epochs: float = Field(0.0, ge=0)
    weight_decay: float = Field(0.0, ge=0)
    ema: float = Field(0.0, ge=0, lt=1)  # momentum of the weights' moving average (training.averaging); 0: none
    early_stopping_patience: int = Field(0, ge=0)
    keep: Literal["best", "last"] = "best"  # the model a run keeps: its best epoch on validation, or its last
    time_budget_min: float = Field(0.0, ge=0)
    time_budget_fit: bool = False  # plan the epochs (and end the schedule) inside time_budget_min
    seed: int = 0
    jit_compile: bool = False
    precision: Literal["auto", "float32", "mixed_bfloat16"] = "auto"
    distribute: Literal["none", "mirrored", "multi_worker", "auto"] = "none"
    cpu_replicas: int = Field(0, ge=0)


class Config(_Section):
    charset: CharsetConfig = CharsetConfig()
    image: ImageConfig = ImageConfig()
    generator: GeneratorConfig = GeneratorConfig()
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _check(self):
        self.charset.build()  # raises UserError on a bad charset
        d = self.data
        if d.source == "synthetic" and (d.folder or d.unlabeled_folder):
            key = "data.folder" if d.folder else "data.unlabeled_folder"
            raise UserError(f"{key} is set but data.source is 'synthetic', so the folder would be ignored; "
                            "set data.source: folder (or remove the folder)")
        ctc = is_frame_loss(self.loss.name)
        if ctc and self.loss.label_smoothing:
            raise UserError("loss.label_smoothing does not apply to loss.name: ctc (it sums over alignments); "
                            "set it to 0")
        if ctc and self.train.jit_compile:
            raise UserError("train.jit_compile: XLA cannot compile tf.nn.ctc_loss on this CPU (tf2xla fails on it); "
                            "set it to false for loss.name: ctc")
        if self.model.rnn_units and not ctc:
            raise UserError("model.rnn_units (a recurrent layer over the frames) needs loss.name: ctc; "
                            "set it to 0 for the per-position losses")
        if self.train.time_budget_fit and not self.train.time_budget_min:
            raise UserError("train.time_budget_fit needs train.time_budget_min, the minutes to fit (or set it false)")
        m = self.model
        if m.head == "attention" and ctc:
            raise UserError("model.head: attention is a head for the per-position losses; ctc reads the frames "
                            "directly (set model.rnn_units for context between them) so set model.head: dense")
        if m.head == "attention" and m.head_units:
            raise UserError("model.head_units is the dense head's hidden layer; set it to 0 with model.head: attention")
        if (m.convs_per_block > 1 or m.residual) and m.padding != "same":
            key = "model.residual" if m.residual else "model.convs_per_block"
            raise UserError(f"{key} needs model.padding: same (every convolution of a block keeps its size)")
        return self

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


def changed_keys(old: Config, new: Config, sections: Sequence[str] | None = None) -> dict[str, tuple[Any, Any]]:
    """The keys whose values differ between two configs, as {"section.key": (old, new)}.

    Args:
        old, new: the configs.
        sections: only look at these sections (all if None).
    """
    a, b = old.to_dict(), new.to_dict()
    changes = {}
    for section in sections or a:
        for key in a[section]:
            if a[section][key] != b[section][key]:
                changes[f"{section}.{key}"] = (a[section][key], b[section][key])
    return changes


def _field_names(model_cls, path: Sequence[str]) -> list[str]:
    """Valid keys at a dotted path of the config schema."""
    cls = model_cls
    for part in path:
        field = cls.model_fields.get(part)
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        cls = field.annotation
    return list(cls.model_fields)


def _format_error(err: dict, source: str) -> str:
    path = [str(p) for p in err["loc"]]
    key = ".".join(path)
    if err["type"] == "extra_forbidden":
        valid = _field_names(Config, path[:-1])
        prefix = ".".join(path[:-1] + [""])
        hint = did_you_mean(path[-1], valid).replace("'", "'" + prefix, 1) if valid else ""
        return f"{source}: unknown key '{key}'{hint}; valid keys here: {', '.join(valid)}"
    got = err.get("input")
    msg = err["msg"].replace("Input should be", "must be")
    hint = ""
    if err["type"] == "literal_error" and isinstance(got, str):
        hint = did_you_mean(got, [str(x) for x in err.get("ctx", {}).get("expected", "").replace("'", "").replace(" or ", ", ").split(", ")])
    if got is None:
        # YAML reads ~, null and an empty value as "nothing"; say so rather than show Python's None.
        return f"{source}: key '{key}': {msg} (got YAML's null: ~, null or an empty value; quote it, e.g. '\"~\"')"
    if err["type"] == "list_type" and isinstance(got, str):
        hint = f"; write a list in brackets, quoted for the shell: --set '{key}=[{got.strip('[]')}]'"
    return f"{source}: key '{key}': {msg} (got {got!r}){hint}"


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _set_path(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserError(f"--set {dotted}: '{part}' is not a section")
    node[parts[-1]] = value


def parse_overrides(items: Sequence[str]) -> dict:
    """Turn ['train.batch_size=8', ...] into a nested dict; values are parsed as YAML."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise UserError(f"--set {item!r}: expected key=value, e.g. --set train.batch_size=8")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        _set_path(out, key.strip(), value)
    return out


def read_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, raising `UserError` for a missing file or bad YAML."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file {str(path)!r} not found; pass an existing file, e.g. --config configs/quickstart.yaml")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: not valid YAML{where}; check the indentation and quoting") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of sections (charset, data, model, ...), got {type(data).__name__}")
    return data


def config_from_dict(data: dict, source: str = "config") -> Config:
    """Validate a (possibly partial) nested dict over the defaults.

    Raises:
        UserError: naming the source and the first bad key.
    """
    try:
        return Config.model_validate(data)
    except UserError as err:
        raise UserError(f"{source}: {err}") from None
    except ValidationError as err:
        errors = err.errors()
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise UserError(_format_error(errors[0], source) + more) from None


RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def recipe_names() -> list[str]:
    """The names of the shipped configs: `quickstart`, `finetune_ctc`, `activations/elu`, ..."""
    return sorted(p.relative_to(RECIPES).with_suffix("").as_posix() for p in RECIPES.rglob("*.yaml"))


def config_path(path: str | Path) -> Path:
    """The file a `--config` value means: an existing file, else the shipped recipe of that name.

    `quickstart`, `quickstart.yaml` and `configs/quickstart.yaml` all name the recipe `quickstart`.

    Raises:
        UserError: neither a file nor a recipe, listing the recipes.
    """
    path = Path(path)
    if path.is_file():
        return path
    name = path.as_posix().removesuffix(".yaml")
    name = name.split("configs/", 1)[1] if "configs/" in name else name
    recipe = RECIPES / f"{name}.yaml"
    if recipe.is_file() and ".." not in Path(name).parts:
        return recipe
    names = recipe_names()
    top = ", ".join(n for n in names if "/" not in n)
    raise UserError(f"config file {str(path)!r} not found{did_you_mean(name, names)}; pass an existing YAML file "
                    f"or the name of a shipped recipe ({top}; and {len(names) - top.count(',') - 1} in subfolders)")


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Load defaults <- YAML file <- `--set` overrides.

    Args:
        path: a YAML file holding differences from the defaults, a recipe's name (see `config_path`), or None.
        overrides: `key.path=value` strings.

    Returns:
        The validated, frozen config.
    """
    data = read_yaml(config_path(path)) if path else {}
    set_data = parse_overrides(overrides)
    source = (str(path) if path else "config") + (" with --set" if set_data else "")
    return config_from_dict(_merge(data, set_data), source)


def save_config(config: Config, path: str | Path) -> None:
    """Write the config as YAML, atomically."""
    from captcha_ocr.core.atomic import write_text_atomic

    write_text_atomic(path, yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True))
