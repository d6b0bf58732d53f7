"""generate.py's dispatch and every mode of generation/modes.py, in process, on untrained tiny runs.

Oracles: the file names and image sizes generate.py documents (hand-computed for the tiny
geometry: 16x16 images of 4x4 micro patches, R = 4), and two identities: a viewport is the
same crop of the sample with the same seed, and the highres .npy of the model's own grid is
that sample.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from absl import flags
from helpers import import_cli, tiny, untrained_run
from PIL import Image

from configs import UserError

PAD = 2  # generation.sampling.image_grid's border


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs: euclidean, cylindrical (8x32 panoramas, R = 2 x 8), and with Q (patch-guided)."""
    root = tmp_path_factory.mktemp("runs")
    untrained_run(root / "flat", tiny())
    cylinder = tiny(data={"full_image_size": [8, 32], "coordinate_system": "cylindrical"}, model={"spatial_dim": 3})
    untrained_run(root / "cylinder", cylinder)
    untrained_run(root / "guided", tiny(Q_update_period=1, loss={"code_loss_w": 1.0}))  # a content head Q
    return root


def generate_main(*args: str) -> None:
    """generate.py's main with these flags (absl flags reset afterwards)."""
    argv = ["generate.py", *args]
    generate = import_cli("generate")
    flags.FLAGS(argv)
    try:
        generate.main(argv[:1])
    finally:
        flags.FLAGS.unparse_flags()


def png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_the_table_names_every_mode_and_only_real_flags():
    generate = import_cli("generate")
    assert tuple(generate.MODES) == generate.MODE_NAMES
    for name, mode in generate.MODES.items():
        params = inspect.signature(mode.run).parameters
        keyword_only = {p for p, v in params.items() if v.kind is inspect.Parameter.KEYWORD_ONLY}
        assert keyword_only == set(mode.flags), name
        assert all(f in flags.FLAGS for f in mode.flags), name


@pytest.mark.parametrize(
    "run,args,files",
    [
        ("flat", ["--mode", "samples", "--num", "3"], {"samples_seed0.png": (2 * 18 + 2, 2 * 18 + 2)}),
        (
            "flat",
            ["--mode", "interpolate", "--num", "1", "--steps", "3", "--seed", "4"],
            {
                "interp_latent_seed4.png": (18 + 2, 3 * 18 + 2),
                "interp_latent_seed4.gif": None,
                "interp_micro_r2c2_seed4.png": (5 + 1, 3 * 5 + 1),  # the centre micro patch, pad 1
                "interp_coords_seed4.png": (7 * 5 + 1, 7 * 5 + 1),  # 2R - 1 = 7 values per axis
                "interp_coords_seed4.gif": None,
            },
        ),
        (
            "flat",
            ["--mode", "viewport", "--viewport", "4,8,8,4", "--num", "1"],
            {"viewport_4_8_8_4_seed0.png": (12, 8)},
        ),
        (
            "flat",
            ["--mode", "beyond", "--num", "1", "--extra", "1"],
            {"beyond_e1_seed0.png": (28, 28), "beyond_e1_marked_seed0.png": (28, 28)},
        ),
        (
            "cylinder",
            ["--mode", "panorama", "--num", "1", "--turns", "1.5"],
            {
                "panorama_seed0.png": (12, 36),
                "panorama_tiled_seed0.png": (12, 68),
                "panorama_turns1.5_seed0.png": (12, 52),
            },
        ),
        (
            "flat",
            ["--mode", "highres", "--grid", "6,5", "--patch_batch", "7"],
            {"highres_24x20_seed0_000.png": (24, 20)},
        ),
        ("guided", ["--mode", "patch_guided", "--num", "2"], {"patch_guided_first0_seed0.png": None}),
    ],
    ids=["samples", "interpolate", "viewport", "beyond", "panorama", "highres", "patch_guided"],
)
def test_each_mode_writes_its_files(runs, tmp_path, run, args, files, capsys):
    out = tmp_path / "out"
    generate_main("--logdir", str(runs / run), "--out", str(out), *args)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        list(files) + (["highres_24x20_seed0_000.npy"] if "highres" in args else [])
    )
    for name, size in files.items():
        if size is not None:
            assert png(out / name).shape[:2] == size, name
    assert "wrote" in capsys.readouterr().out


def test_viewport_and_highres_are_the_sample_of_the_same_seed(runs, tmp_path):
    out = str(tmp_path)
    common = ("--logdir", str(runs / "flat"), "--out", out, "--seed", "3", "--num", "1")
    generate_main(*common, "--mode", "samples")
    generate_main(*common, "--mode", "viewport", "--viewport", "4,8,8,4")
    generate_main(*common, "--mode", "highres")  # the model's own 4x4 grid
    sample = png(tmp_path / "samples_seed3.png")[PAD:-PAD, PAD:-PAD]
    view = png(tmp_path / "viewport_4_8_8_4_seed3.png")[PAD:-PAD, PAD:-PAD]
    np.testing.assert_array_equal(view, sample[4:12, 8:12])
    full = np.load(tmp_path / "highres_16x16_seed3_000.npy")  # uint8, streamed in patch batches
    assert full.shape == (16, 16, 3)
    np.testing.assert_allclose(full.astype(int), sample.astype(int), atol=1)  # batch-size dependent kernels


def test_export_goes_to_logdir_export_by_default(runs):
    generate_main("--logdir", str(runs / "flat"), "--mode", "export")
    assert (runs / "flat" / "export" / "saved_model.pb").is_file()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--mode", "viewport"], "needs --viewport=top,left,height,width"),
        (["--mode", "interpolate", "--index", "1"], "--index='1' must be two integers"),
        (["--mode", "samples", "--num", "0"], "--num=0 must be at least 1"),
        (["--mode", "panorama"], "panorama mode needs a model trained with"),
    ],
)
def test_mode_mistakes_are_user_errors(runs, tmp_path, args, message):
    with pytest.raises(UserError, match=message.replace("[", r"\[")):
        generate_main("--logdir", str(runs / "flat"), "--out", str(tmp_path), *args)
