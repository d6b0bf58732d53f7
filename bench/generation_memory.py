"""Benchmark (not a test): full images/s, and peak memory of streamed high-resolution generation.

For one configuration (default CelebA_64x64_N2M2S32 with an *untrained* generator; the
generator's cost does not depend on its weights) it prints
- full images/s of regular generation (all R_h x R_w micro patches per z, --batch_size z at once);
- for each --grids size, in a fresh subprocess: the peak resident memory (ru_maxrss) of
  generating one image of G x G micro patches with generation/highres.py (fixed-size patch
  batches, row bands streamed to .npy and .png), next to the resident memory after
  TensorFlow and the model were loaded and compiled (one patch batch run), and the time.

    python bench/generation_memory.py                          # grids 16 and 64: 256^2 vs 1024^2 px (16x)
    python bench/generation_memory.py --config MNIST_32x32_N2M2S32 --grids 16,128

The sizes should differ by at least 16x in pixels (4x per side). Memory stays flat when
"peak - loaded" does not grow with the size.
"""

from __future__ import annotations

import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from absl import app, flags  # noqa: E402  (after the sys.path insert)

FLAGS = flags.FLAGS
flags.DEFINE_string("config", "CelebA_64x64_N2M2S32", "Configuration name (configs/NAME.yaml) or a YAML path.")
flags.DEFINE_integer("ngf", None, "Override model_params.ngf_base (generator width); default: the config's.")
flags.DEFINE_list("grids", ["16", "64"], "Output sizes in micro patches per side (one image each).")
flags.DEFINE_enum("layout", "stretch", ["stretch", "extrapolate"], "Coordinates of the enlarged grid.")
flags.DEFINE_integer("patch_batch", 64, "Micro patches per generator call.")
flags.DEFINE_integer("batch_size", 16, "Latents per call for the full-images/s figure.")
flags.DEFINE_integer("rate_batches", 5, "Timed batches for the full-images/s figure.")
flags.DEFINE_integer("worker_grid", None, "(internal) run one high-resolution measurement and print JSON.")
flags.DEFINE_string("worker_out", None, "(internal) output directory of the worker.")


def _config():
    from configs import config_path, load_config, replace

    path = FLAGS.config if FLAGS.config.endswith(".yaml") else config_path(FLAGS.config)
    config = load_config(path)
    if FLAGS.ngf:
        config = replace(config, model_params={"ngf_base": FLAGS.ngf})
    return config


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(grid: int, out_dir: str) -> dict:
    import tensorflow as tf

    from generation.highres import generate_highres
    from generation.restore import build_generator, compile_patch_function
    from generation.sampling import sample_latents
    from geometry import PatchGeometry

    config = _config()
    geo = PatchGeometry.from_config(config)
    g = compile_patch_function(build_generator(config))
    z = sample_latents(1, config.model_params.z_dim, 0).numpy()
    # Warm-up: trace and run one patch batch, so "loaded" includes TF, the model and the compiled function.
    g((tf.zeros([FLAGS.patch_batch, config.model_params.z_dim]), tf.zeros([FLAGS.patch_batch, geo.coord_dim])))
    loaded_rss = _rss_mb()
    loaded_peak = _peak_mb()
    during = [loaded_rss]

    def sample_rss(row, rows):  # called after every row band is written
        during.append(_rss_mb())

    t0 = time.perf_counter()
    paths = generate_highres(
        g,
        geo,
        z,
        (grid, grid),
        os.path.join(out_dir, f"hr{grid}"),
        ("npy", "png"),
        FLAGS.layout,
        FLAGS.patch_batch,
        progress=sample_rss,
    )
    seconds = time.perf_counter() - t0
    H, W = grid * geo.micro_size[0], grid * geo.micro_size[1]
    sizes = {os.path.splitext(p)[1][1:]: os.path.getsize(p) for p in paths}
    return dict(
        grid=grid,
        height=H,
        width=W,
        patches=grid * grid,
        seconds=seconds,
        loaded_rss_mb=loaded_rss,
        loaded_peak_mb=loaded_peak,
        peak_mb=_peak_mb(),
        max_rss_during_mb=max(during),
        final_rss_mb=_rss_mb(),
        image_mb=H * W * config.data_params.c_dim / 2**20,
        npy_bytes=sizes.get("npy"),
        png_bytes=sizes.get("png"),
    )


def images_per_second(config) -> float:
    from generation.restore import build_generator, compile_patch_function
    from generation.sampling import generate_full_images, sample_latents
    from geometry import PatchGeometry

    geo = PatchGeometry.from_config(config)
    g = compile_patch_function(build_generator(config))
    z = sample_latents(FLAGS.batch_size, config.model_params.z_dim, 0)
    generate_full_images(g, geo, z).numpy()  # warm-up (trace)
    t0 = time.perf_counter()
    for _ in range(FLAGS.rate_batches):
        generate_full_images(g, geo, z).numpy()
    return FLAGS.rate_batches * FLAGS.batch_size / (time.perf_counter() - t0)


def main(argv):
    if FLAGS.worker_grid:
        print("RESULT " + json.dumps(worker(FLAGS.worker_grid, FLAGS.worker_out)), flush=True)
        return
    config = _config()
    d, m = config.data_params, config.model_params
    grids = [int(g) for g in FLAGS.grids]
    print(
        f"config {FLAGS.config}: full {list(d.full_image_size)}, micro {list(d.micro_patch_size)}, "
        f"c_dim {d.c_dim}, ngf_base {m.ngf_base}, z_dim {m.z_dim} (untrained generator); "
        f"patch batch {FLAGS.patch_batch}, layout {FLAGS.layout}; CPU threads: "
        f"{os.cpu_count()}",
        flush=True,
    )
    rate = images_per_second(config)
    print(
        f"regular generation: {rate:.1f} full {d.full_image_size[0]}x{d.full_image_size[1]} images/s "
        f"(batch {FLAGS.batch_size})",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for grid in grids:
            args = [
                sys.executable,
                __file__,
                f"--worker_grid={grid}",
                f"--worker_out={tmp}",
                f"--config={FLAGS.config}",
                f"--layout={FLAGS.layout}",
                f"--patch_batch={FLAGS.patch_batch}",
            ]
            if FLAGS.ngf:
                args.append(f"--ngf={FLAGS.ngf}")
            done = subprocess.run(args, capture_output=True, text=True)
            result = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
            if done.returncode or not result:
                print(done.stdout, done.stderr, file=sys.stderr)
                raise SystemExit(f"worker for grid {grid} failed")
            rows.append(json.loads(result[0][len("RESULT ") :]))
            for f in pathlib.Path(tmp).glob("hr*"):
                f.unlink()
    print(
        f"\n{'output':>13} {'patches':>8} {'image MB':>9} {'seconds':>8} {'patches/s':>9} "
        f"{'loaded RSS':>10} {'max RSS gen':>11} {'peak RSS':>9} {'peak-loaded':>11}   (MB)"
    )
    for r in rows:
        print(
            f"{r['height']:>6}x{r['width']:<6} {r['patches']:>8} {r['image_mb']:>9.1f} {r['seconds']:>8.1f} "
            f"{r['patches'] / r['seconds']:>9.0f} {r['loaded_rss_mb']:>10.0f} {r['max_rss_during_mb']:>11.0f} "
            f"{r['peak_mb']:>9.0f} "
            f"{r['peak_mb'] - r['loaded_peak_mb']:>11.1f}"
        )
    small, large = rows[0], rows[-1]
    print(
        f"\npixels x{large['height'] * large['width'] / (small['height'] * small['width']):.0f}; "
        f"peak RSS (ru_maxrss) {small['peak_mb']:.0f} MB -> {large['peak_mb']:.0f} MB; "
        f"max RSS sampled after each row band {small['max_rss_during_mb']:.0f} MB -> "
        f"{large['max_rss_during_mb']:.0f} MB"
    )
    print(
        "loaded RSS: after TensorFlow, the model and one compiled patch batch; peak-loaded: how far the "
        "generation raised the process's peak above the peak it had reached before generating"
    )


if __name__ == "__main__":
    app.run(main)
