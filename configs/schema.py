"""Typed COCO-GAN configuration, loaded from YAML files that mirror the official ones.

Section and key names are the official repository's (data_params, train_params,
loss_params, model_params, log_params); keys this project adds are marked "(added)".
Every value is validated once, at load time, so a typo or an impossible patch
geometry is a one-line `ConfigError` that names the key and the fix, never a shape
error deep inside TensorFlow.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import re
from typing import Optional

import yaml

from configs.errors import ConfigError

INF = math.inf
DATASETS = ("mnist", "celeba", "celeba-hq", "lsun", "mp3d", "folder", "tfds_celeba", "synthetic")
COORDINATE_SYSTEMS = ("euclidean", "cylindrical")
MIXED_PRECISIONS = ("none", "mixed_bfloat16", "mixed_float16")
GP_FORMS = ("wgan_gp", "official")  # loss_params.gp_form (docs/switches.md)
CBN_NORMS = ("std", "official")  # model_params.cbn_norm (docs/switches.md)


@dataclasses.dataclass
class DataParams:
    dataset: str = "celeba"
    c_dim: int = 3
    full_image_size: tuple = (128, 128)  # [height, width]
    macro_patch_size: tuple = (64, 64)
    micro_patch_size: tuple = (32, 32)
    num_train_samples: Optional[int] = None
    num_test_samples: Optional[int] = None
    coordinate_system: str = "euclidean"
    data_dir: Optional[str] = None  # (added) folder of images; None = the dataset's default
    sampling: str = "discrete"  # (added) macro positions: "discrete" (paper) or "continuous"


@dataclasses.dataclass
class TrainParams:
    epochs: float = INF  # official key; only inf is accepted: training length is total_steps here
    batch_size: int = 128
    G_update_period: int = 1
    D_update_period: int = 1
    Q_update_period: int = 0  # 0 = Q has no separate update (official default); 1 = every iteration
    beta1: float = 0.0
    beta2: float = 0.999
    glr: float = 1e-4
    dlr: float = 4e-4
    qlr: float = 1e-4
    train_extrap: bool = False
    num_extrap_steps: int = 0
    force_load_from_dir: Optional[str] = None  # official: False or a checkpoint directory
    # (added) generator residual blocks the beyond-boundary step updates (official: g_resblock_0/1)
    extrap_g_blocks: list = dataclasses.field(default_factory=lambda: [0, 1])
    total_steps: float = INF  # (added) stop after this many iterations; --steps overrides
    total_train_minutes: float = INF  # (added) stop once this much training time is spent; --train_minutes
    steps_per_call: int = 1  # (added) iterations run inside one tf.function call
    jit_compile: bool = False  # (added) compile the iteration with XLA
    deterministic: bool = False  # (added) tf.config.experimental.enable_op_determinism() (bit-exact resume)
    mixed_precision: str = "none"  # (added) none | mixed_bfloat16 | mixed_float16 (docs/scaling.md)
    sync_batch_norm: bool = False  # (added) all-reduce G's/heads' batch statistics over replicas
    # (added) Adam's epsilon for every optimizer: 1e-7 is Keras' default, 1e-8 TF1's (official runs)
    adam_epsilon: float = 1e-7
    seed: int = 0  # (added)


@dataclasses.dataclass
class LossParams:
    gp_lambda: float = 10.0
    coord_loss_w: float = 100.0
    code_loss_w: float = 0.0
    # (added) gradient penalty: "wgan_gp" (one eps per sample, norm over all non-batch axes) or
    # "official" (eps per element, norm over the height axis only); docs/switches.md
    gp_form: str = "wgan_gp"


@dataclasses.dataclass
class ModelParams:
    z_dim: int = 128
    spatial_dim: int = 2
    g_extra_layers: int = 0
    d_extra_layers: int = 0
    ngf_base: int = 64
    ndf_base: int = 64
    aux_dim: int = 128
    # (added) CBN normalisation: "std" (x - mean) / sqrt(var + eps), or "official" / sqrt(var**2 + eps)
    cbn_norm: str = "std"
    cbn_gamma_bias: float = 1.0  # (added) initial bias of CBN's gamma layer (official: 0.0)


@dataclasses.dataclass
class LogParams:
    exp_name: str = "coco_gan"
    log_dir: str = "./logs/"
    log_step: float = 100.0
    img_step: float = 1000.0
    fid_step: float = 5000.0
    ckpt_step: float = 5000.0
    dump_img_step: float = 2000.0
    merge_micro_patches_in_cpu: bool = False
    fid_num_samples: int = 5000  # (added) samples of the in-training FID (named fid5k)
    fid_ref_stats: Optional[str] = None  # (added) reference .npz for the in-training FID
    num_sample_images: int = 64  # (added) fixed-z grid size
    max_to_keep: int = 3  # (added) checkpoints kept by the CheckpointManager


SECTIONS = {
    "data_params": DataParams,
    "train_params": TrainParams,
    "loss_params": LossParams,
    "model_params": ModelParams,
    "log_params": LogParams,
}


@dataclasses.dataclass
class Config:
    data_params: DataParams = dataclasses.field(default_factory=DataParams)
    train_params: TrainParams = dataclasses.field(default_factory=TrainParams)
    loss_params: LossParams = dataclasses.field(default_factory=LossParams)
    model_params: ModelParams = dataclasses.field(default_factory=ModelParams)
    log_params: LogParams = dataclasses.field(default_factory=LogParams)

    # ---- derived geometry (read-only conveniences) ----
    @property
    def full_size(self) -> tuple:
        return tuple(self.data_params.full_image_size)

    @property
    def macro_size(self) -> tuple:
        return tuple(self.data_params.macro_patch_size)

    @property
    def micro_size(self) -> tuple:
        return tuple(self.data_params.micro_patch_size)

    def to_dict(self) -> dict:
        out = {}
        for name in SECTIONS:
            section = dataclasses.asdict(getattr(self, name))
            out[name] = {k: _to_yaml_value(v) for k, v in section.items()}
        return out

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _to_yaml_value(value):
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return value


def _coerce(section: str, key: str, value, default):
    """Convert a YAML value to the type of the field's default; name the key on failure."""
    where = f"{section}.{key}"
    if default is None:  # optional string/int keys; the official files write False for "none"
        return None if value is False else value
    if isinstance(default, tuple):
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value, value]
        if not (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            raise ConfigError(f"{where} must be a pair of integers [height, width], got {value!r}")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, str) and value.strip().lower() in ("inf", "infinity"):
            return INF
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", value.strip()):
            return float(value)  # YAML 1.1 reads 1e-8 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number (or inf), got {value!r}")
        return float(value)
    if isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    return value


def config_from_dict(raw: dict, source: str = "<dict>") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a config is a mapping of sections {sorted(SECTIONS)}")
    unknown_sections = set(raw) - set(SECTIONS)
    if unknown_sections:
        raise ConfigError(
            f"{source}: unknown section(s) {sorted(unknown_sections)}; valid sections are {list(SECTIONS)}"
        )
    sections = {}
    for name, cls in SECTIONS.items():
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: section {name} must be a mapping, got {values!r}")
        defaults = cls()
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - fields
        if unknown:
            raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)} in {name}; valid keys are {sorted(fields)}")
        kwargs = {k: _coerce(name, k, v, getattr(defaults, k)) for k, v in values.items()}
        sections[name] = cls(**kwargs)
    config = Config(**sections)
    validate(config, source)
    return config


def load_config(path) -> Config:
    path = pathlib.Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    return config_from_dict(raw, source=str(path))


def validate(config: Config, source: str = "config") -> None:
    """Reject impossible values with one line naming the key and the fix."""
    d, t, l, m, g = (
        config.data_params,
        config.train_params,
        config.loss_params,
        config.model_params,
        config.log_params,
    )

    def fail(msg):
        raise ConfigError(f"{source}: {msg}")

    if d.dataset not in DATASETS:
        fail(f"data_params.dataset={d.dataset!r} is not one of {list(DATASETS)}")
    if d.coordinate_system not in COORDINATE_SYSTEMS:
        fail(f"data_params.coordinate_system={d.coordinate_system!r} must be one of {list(COORDINATE_SYSTEMS)}")
    if d.sampling not in ("discrete", "continuous"):
        fail(f"data_params.sampling={d.sampling!r} must be 'discrete' or 'continuous'")
    if d.c_dim not in (1, 3):
        fail(f"data_params.c_dim={d.c_dim} must be 1 or 3")
    for key in ("full_image_size", "macro_patch_size", "micro_patch_size"):
        if min(getattr(d, key)) < 1:
            fail(f"data_params.{key}={list(getattr(d, key))} must be positive")
    micro, macro, full = d.micro_patch_size, d.macro_patch_size, d.full_image_size
    if micro[0] != micro[1] or macro[0] != macro[1]:
        fail(f"square patches only: micro_patch_size={list(micro)}, macro_patch_size={list(macro)}")
    p = micro[0]
    if p < 4 or p & (p - 1):
        fail(f"data_params.micro_patch_size={p} must be a power of two >= 4 (the generator doubles 2x2 up to it)")
    q = macro[0]
    if q % p:
        fail(
            f"data_params.macro_patch_size={q} is not a multiple of micro_patch_size={p}; "
            f"use a multiple such as {2 * p}"
        )
    if q < 8 or q & (q - 1):
        fail(f"data_params.macro_patch_size={q} must be a power of two >= 8 (the discriminator halves it to 4x4)")
    for axis, name in enumerate(("height", "width")):
        if full[axis] % p:
            fail(
                f"data_params.full_image_size {name} {full[axis]} is not a multiple of "
                f"micro_patch_size={p}; use a multiple such as {max(p, full[axis] // p * p)}"
            )
        if full[axis] < q:
            fail(f"data_params.full_image_size {name} {full[axis]} is smaller than macro_patch_size={q}")
    want_dim = 3 if d.coordinate_system == "cylindrical" else 2
    if m.spatial_dim != want_dim:
        fail(
            f"model_params.spatial_dim={m.spatial_dim} but coordinate_system={d.coordinate_system!r} "
            f"needs spatial_dim={want_dim}"
        )
    if t.batch_size < 1:
        fail(f"train_params.batch_size={t.batch_size} must be at least 1")
    if t.mixed_precision not in MIXED_PRECISIONS:
        fail(f"train_params.mixed_precision={t.mixed_precision!r} must be one of {list(MIXED_PRECISIONS)}")
    if t.steps_per_call < 1:
        fail(f"train_params.steps_per_call={t.steps_per_call} must be at least 1")
    if not t.total_steps >= 1:
        fail(f"train_params.total_steps={t.total_steps} must be at least 1 (or inf)")
    if not t.total_train_minutes > 0:
        fail(f"train_params.total_train_minutes={t.total_train_minutes} must be positive (or inf)")
    for key in ("glr", "dlr", "qlr"):
        if getattr(t, key) <= 0:
            fail(f"train_params.{key}={getattr(t, key)} must be positive")
    for key in ("beta1", "beta2"):
        if not 0 <= getattr(t, key) < 1:
            fail(f"train_params.{key}={getattr(t, key)} must be in [0, 1)")
    for key in ("G_update_period", "D_update_period"):
        if getattr(t, key) != 1:
            fail(f"train_params.{key}={getattr(t, key)}: only 1 (one D step then one G step) is supported")
    if t.Q_update_period < 0:
        fail(f"train_params.Q_update_period={t.Q_update_period} must be >= 0 (0 disables Q's own update)")
    if t.Q_update_period > 1:  # Q's step is part of the compiled iteration; skipping it exactly is not supported
        fail(
            f"train_params.Q_update_period={t.Q_update_period}: only 0 (no Q step) or 1 (every iteration) is supported"
        )
    if t.epochs != INF:
        fail(f"train_params.epochs={t.epochs:g} is not used; set train_params.total_steps (or --steps) and epochs: inf")
    if not (math.isfinite(t.adam_epsilon) and t.adam_epsilon > 0):
        fail(f"train_params.adam_epsilon={t.adam_epsilon} must be a positive number (Keras 1e-7, TF1 1e-8)")
    if t.num_extrap_steps < 0:
        fail(f"train_params.num_extrap_steps={t.num_extrap_steps} must be >= 0")
    if t.train_extrap and t.num_extrap_steps < 1:
        fail("train_params.train_extrap is true but num_extrap_steps < 1; set num_extrap_steps: 1")
    if t.train_extrap and d.coordinate_system != "euclidean":
        fail("train_params.train_extrap needs coordinate_system: euclidean (a panorama has no column border)")
    g_blocks = int(math.log2(p)) - 1 + m.g_extra_layers
    blocks = t.extrap_g_blocks
    if t.train_extrap and (
        not isinstance(blocks, list)
        or not blocks
        or len(set(blocks)) != len(blocks)
        or not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b < g_blocks for b in blocks)
    ):
        fail(
            f"train_params.extrap_g_blocks={blocks!r} must be a non-empty list of distinct generator block "
            f"indices in [0, {g_blocks - 1}] (official: [0, 1])"
        )
    for key in ("gp_lambda", "coord_loss_w", "code_loss_w"):
        if getattr(l, key) < 0:
            fail(f"loss_params.{key}={getattr(l, key)} must be >= 0")
    if l.gp_form not in GP_FORMS:
        fail(f"loss_params.gp_form={l.gp_form!r} must be one of {list(GP_FORMS)}")
    if l.gp_form == "official" and t.train_extrap:  # its GP scores x_hat at a per-sample mix of coordinates
        fail("loss_params.gp_form='official' is not supported with train_params.train_extrap; use 'wgan_gp'")
    if m.cbn_norm not in CBN_NORMS:
        fail(f"model_params.cbn_norm={m.cbn_norm!r} must be one of {list(CBN_NORMS)}")
    if not math.isfinite(m.cbn_gamma_bias):
        fail(f"model_params.cbn_gamma_bias={m.cbn_gamma_bias} must be a finite number (1.0 default, 0.0 official)")
    for key in ("z_dim", "ngf_base", "ndf_base", "aux_dim"):
        if getattr(m, key) < 1:
            fail(f"model_params.{key}={getattr(m, key)} must be at least 1")
    for key in ("g_extra_layers", "d_extra_layers"):
        if getattr(m, key) < 0:
            fail(f"model_params.{key}={getattr(m, key)} must be >= 0")
    for key in ("log_step", "img_step", "fid_step", "ckpt_step", "dump_img_step"):
        if not getattr(g, key) >= 1:
            fail(f"log_params.{key}={getattr(g, key)} must be at least 1 (or inf to disable)")
    if g.num_sample_images < 1 or g.fid_num_samples < 1 or g.max_to_keep < 1:
        fail("log_params.num_sample_images, fid_num_samples and max_to_keep must be at least 1")
