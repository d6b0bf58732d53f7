"""Typed configurations; YAML files beside this module mirror the official COCO-GAN configs."""

from configs.errors import ConfigError, UserError
from configs.registry import PRESETS, config_path, preset_name, replace, resolve_config
from configs.schema import Config, config_from_dict, load_config

__all__ = [
    "Config",
    "ConfigError",
    "UserError",
    "PRESETS",
    "config_from_dict",
    "config_path",
    "load_config",
    "preset_name",
    "replace",
    "resolve_config",
]
