"""Maps `--dataset NAME --size N` to the official configuration file, and applies overrides."""

from __future__ import annotations

import pathlib
from typing import Optional

from configs.errors import ConfigError
from configs.schema import Config, config_from_dict, load_config, validate

CONFIG_DIR = pathlib.Path(__file__).resolve().parent

# (dataset flag, size) -> config name. The first size listed for a dataset is its default.
PRESETS = {
    "mnist": {32: "MNIST_32x32_N2M2S32"},
    "celeba": {128: "CelebA_128x128_N2M2S64", 64: "CelebA_64x64_N2M2S32"},
    "lsun": {256: "LSUN_256x256_N2M2S128", 64: "LSUN_64x64_N2M2S32", 128: "LSUN_128x128_N2M2S64"},
    "celebahq": {1024: "CelebAHQ_1024x1024_N2M2S512"},
    "mp3d": {256: "MP3D_256x768_N2M2S128"},  # size = panorama height (256x768)
    # Any image folder trains with the LSUN configuration of that size (plain square resize).
    "folder": {64: "LSUN_64x64_N2M2S32", 128: "LSUN_128x128_N2M2S64", 256: "LSUN_256x256_N2M2S128"},
}


def config_path(name: str) -> pathlib.Path:
    return CONFIG_DIR / f"{name}.yaml"


def preset_name(dataset: str, size: Optional[int] = None) -> str:
    if dataset not in PRESETS:
        raise ConfigError(f"--dataset={dataset!r} is not one of {sorted(PRESETS)}")
    sizes = PRESETS[dataset]
    if size is None:
        return next(iter(sizes.values()))
    if size not in sizes:
        raise ConfigError(
            f"--size={size} has no configuration for --dataset={dataset}; "
            f"choose one of {sorted(sizes)} or pass --config FILE.yaml"
        )
    return sizes[size]


def resolve_config(
    dataset: str = "mnist",
    size: Optional[int] = None,
    config_file: Optional[str] = None,
    overrides: Optional[dict] = None,
) -> Config:
    """The configuration a run uses: a YAML file (or the dataset/size preset) plus overrides.

    `overrides` maps "section.key" to a value (None values are ignored), e.g.
    {"train_params.batch_size": 16, "data_params.data_dir": "/data/celeba"}.
    """
    if config_file:
        config = load_config(config_file)
    else:
        config = load_config(config_path(preset_name(dataset, size)))
        if dataset == "folder":
            config.data_params.dataset = "folder"
            config.log_params.exp_name = config.log_params.exp_name.replace("LSUN", "Folder")
    if overrides:
        raw = config.to_dict()
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            if section not in raw or key not in raw[section]:
                raise ConfigError(f"unknown override {dotted!r}")
            raw[section][key] = value
        config = config_from_dict(raw, source="config with overrides")
    validate(config)
    return config


def replace(config: Config, **sections) -> Config:
    """A copy of `config` with some section fields replaced: replace(c, train_params={"seed": 1})."""
    raw = config.to_dict()
    for section, values in sections.items():
        raw[section].update(values)
    return config_from_dict(raw, source="config")


__all__ = ["PRESETS", "resolve_config", "preset_name", "config_path", "replace"]
