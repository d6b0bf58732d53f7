"""Configurations: every shipped YAML loads; presets resolve; bad values fail with one line naming the key."""

import pytest

from configs import ConfigError, config_path, load_config, resolve_config
from configs.registry import CONFIG_DIR, PRESETS

OFFICIAL = [
    "CelebA_64x64_N2M2S32",
    "CelebA_128x128_N2M2S64",
    "CelebA_128x128_N4M4S64",
    "CelebA_128x128_N8M8S64",
    "CelebA_128x128_N16M16S64",
    "CelebA_128x128_N2M2S64_PatchGuidedGeneration",
    "LSUN_64x64_N2M2S32",
    "LSUN_256x256_N2M2S128",
    "LSUN_256x256_N2M2S128_Extrapolation",
    "MP3D_256x768_N2M2S128",
    "CelebAHQ_1024x1024_N2M2S512",
]


def test_every_official_configuration_and_the_extra_ones_exist_and_load():
    names = {p.stem for p in CONFIG_DIR.glob("*.yaml")}
    assert set(OFFICIAL) | {"LSUN_128x128_N2M2S64", "MNIST_32x32_N2M2S32", "tiny"} <= names
    for name in names:
        config = load_config(config_path(name))
        assert config.log_params.exp_name == name


@pytest.mark.parametrize(
    "name,full,macro,micro,batch,extra",
    [
        ("CelebA_64x64_N2M2S32", (64, 64), 32, 16, 64, 0),
        ("CelebA_128x128_N2M2S64", (128, 128), 64, 32, 128, 0),
        ("CelebA_128x128_N4M4S64", (128, 128), 64, 16, 128, 0),
        ("CelebA_128x128_N8M8S64", (128, 128), 64, 8, 128, 1),
        ("CelebA_128x128_N16M16S64", (128, 128), 64, 4, 64, 3),
        ("LSUN_256x256_N2M2S128", (256, 256), 128, 64, 128, 0),
        ("MP3D_256x768_N2M2S128", (256, 768), 128, 64, 128, 0),
        ("CelebAHQ_1024x1024_N2M2S512", (1024, 1024), 512, 256, 20, 0),
    ],
)
def test_official_geometry_and_batch(name, full, macro, micro, batch, extra):
    c = load_config(config_path(name))
    assert c.full_size == full and c.macro_size == (macro, macro) and c.micro_size == (micro, micro)
    assert c.train_params.batch_size == batch and c.model_params.g_extra_layers == extra
    # Shared hyper-parameters (docs/design.md, Configurations).
    assert (c.model_params.z_dim, c.model_params.ngf_base, c.model_params.aux_dim) == (128, 64, 128)
    assert (c.train_params.glr, c.train_params.dlr, c.train_params.beta1, c.train_params.beta2) == (
        1e-4,
        4e-4,
        0.0,
        0.999,
    )
    assert c.loss_params.gp_lambda == 10


def test_special_configurations():
    pg = load_config(config_path("CelebA_128x128_N2M2S64_PatchGuidedGeneration"))
    assert pg.train_params.Q_update_period == 1 and pg.loss_params.code_loss_w == 100
    ex = load_config(config_path("LSUN_256x256_N2M2S128_Extrapolation"))
    assert ex.train_params.train_extrap and ex.train_params.num_extrap_steps == 1
    assert ex.loss_params.coord_loss_w == 10000
    mp = load_config(config_path("MP3D_256x768_N2M2S128"))
    assert mp.data_params.coordinate_system == "cylindrical" and mp.model_params.spatial_dim == 3


@pytest.mark.parametrize(
    "dataset,size,name",
    [
        ("celeba", 128, "CelebA_128x128_N2M2S64"),
        ("celeba", 64, "CelebA_64x64_N2M2S32"),
        ("celeba", None, "CelebA_128x128_N2M2S64"),
        ("lsun", 64, "LSUN_64x64_N2M2S32"),
        ("lsun", 128, "LSUN_128x128_N2M2S64"),
        ("lsun", 256, "LSUN_256x256_N2M2S128"),
        ("celebahq", 1024, "CelebAHQ_1024x1024_N2M2S512"),
        ("mp3d", None, "MP3D_256x768_N2M2S128"),
        ("mnist", None, "MNIST_32x32_N2M2S32"),
    ],
)
def test_dataset_and_size_resolve_to_the_official_configuration(dataset, size, name):
    assert resolve_config(dataset, size).log_params.exp_name == name


def test_overrides_apply_and_are_validated():
    c = resolve_config(
        "celeba",
        64,
        overrides={
            "train_params.batch_size": 16,
            "train_params.total_steps": 10,
            "data_params.data_dir": "/x",
            "train_params.seed": None,
        },
    )
    assert c.train_params.batch_size == 16 and c.train_params.total_steps == 10 and c.data_params.data_dir == "/x"
    with pytest.raises(ConfigError, match="batch_size=0 must be at least 1"):
        resolve_config("celeba", 64, overrides={"train_params.batch_size": 0})


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "data_params:\n  full_image_size: [100, 100]\n  macro_patch_size: [64, 64]\n  micro_patch_size: [32, 32]\n",
            "full_image_size height 100 is not a multiple of micro_patch_size=32",
        ),
        (
            "data_params:\n  full_image_size: [128, 128]\n  macro_patch_size: [48, 48]\n  micro_patch_size: [32, 32]\n",
            "macro_patch_size=48 is not a multiple of micro_patch_size=32",
        ),
        ("train_params:\n  batch_size: 0\n", "train_params.batch_size=0 must be at least 1"),
        ("train_params:\n  batchsize: 8\n", "unknown key(s) ['batchsize'] in train_params"),
        ("training:\n  batch_size: 8\n", "unknown section(s) ['training']"),
        ("model_params:\n  z_dim: ten\n", "model_params.z_dim must be an integer"),
        ("data_params:\n  coordinate_system: cylindrical\n", "needs spatial_dim=3"),
        ("data_params:\n  dataset: imagenet\n", "data_params.dataset='imagenet' is not one of"),
        ("data_params: [1, 2\n", "not valid YAML"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_preset_size_and_missing_file():
    with pytest.raises(ConfigError, match="--size=96 has no configuration for --dataset=celeba"):
        resolve_config("celeba", 96)
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(config_file="/no/such.yaml")
    assert set(PRESETS) == {"mnist", "celeba", "lsun", "celebahq", "mp3d", "folder"}


def test_round_trip_through_yaml(tmp_path):
    c = resolve_config("lsun", 256)
    path = tmp_path / "resolved.yaml"
    path.write_text(c.to_yaml())
    assert load_config(path) == c
