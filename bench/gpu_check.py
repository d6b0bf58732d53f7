"""A prepared check of a GPU machine: devices, paper-scale training speed, generation by parts, FID speed.

    python bench/gpu_check.py --minutes 5 --out gpu_check.json

With a GPU visible it
* reports the devices (training/devices.py), TensorFlow's CUDA/cuDNN build and the GPUs' compute
  capabilities;
* trains the paper's CelebA 128x128 configuration (configs/CelebA_128x128_N2M2S64.yaml, batch 128)
  on synthetic macro patches of the real shape for a fixed number of iterations in each variant:
  fp32, mixed precision (mixed_float16), XLA, and both; per variant it/s, images/s, the first
  call's tracing + compile time and the peak GPU memory (tf.config.experimental.get_memory_info
  "peak", reset before each variant);
* generates one 1024x1024 image by parts with the fp32 variant's generator (generation/highres.py:
  a 32x32 grid of 32x32 micro patches, "stretch" layout, streamed to .npy) and times it;
* runs the FID network (fid/statistics.py FeatureExtractor, Inception pool_3) on 1,000 uint8 images
  and reports images/s;
* writes everything to --out as JSON, rewritten after every part.

On a machine without a GPU it runs the same path in seconds on configs/tiny.yaml (fewer
iterations, mixed_bfloat16 as the mixed variant, a 64x64 image, a few FID images) and the JSON
says that no GPU was found. Each part respects --minutes: the training variants share 60 % of
it (each gets what is left of that share over the variants still to run, its first call
included; at least one timed iteration), and a part that would start after the budget is spent
is skipped with a note in the JSON. `--variants fp32 xla` runs a subset.
The timing loop is bench/train_benchmark.py's (time_train_calls, synthetic_batch).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pathlib
import resource
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from configs.errors import UserError, exit_on_user_error  # noqa: E402
from fileio.atomic import write_atomic  # noqa: E402

# What to run where: the paper configuration on a GPU, the tiny one on a CPU.
PLANS = {
    "gpu": {
        "config": "CelebA_128x128_N2M2S64",
        "warmup": 3,
        "iters": 20,
        "variants": {
            "fp32": {},
            "mixed_float16": {"mixed_precision": "mixed_float16"},
            "xla": {"jit_compile": True},
            "mixed_float16_xla": {"mixed_precision": "mixed_float16", "jit_compile": True},
        },
        "highres_size": 1024,
        "patch_batch": 64,
        "fid_images": 1000,
        "fid_batch": 50,
        "fid_size": 128,
    },
    "cpu": {
        "config": "tiny",
        "warmup": 1,
        "iters": 3,
        "variants": {
            "fp32": {},
            "mixed_bfloat16": {"mixed_precision": "mixed_bfloat16"},
            "xla": {"jit_compile": True},
        },
        "highres_size": 64,
        "patch_batch": 64,
        "fid_images": 2,
        "fid_batch": 2,
        "fid_size": 16,
    },
}
TRAIN_SHARE = 0.6  # of the budget, for all training variants together


def write_json(path: pathlib.Path, report: dict) -> None:
    """Atomic: a reader never sees half a file, an interrupted run keeps the last parts."""
    write_atomic(path, json.dumps(report, indent=1))


def device_section() -> dict:
    import tensorflow as tf

    from training.devices import describe_devices, physical_gpus

    gpus = physical_gpus()
    info = tf.sysconfig.get_build_info()
    listed = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        listed.append(
            {
                "name": details.get("device_name", gpu.name),
                "compute_capability": list(details.get("compute_capability") or []) or None,
            }
        )
    return {
        "tensorflow": tf.__version__,
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "cuda_build": {k: info.get(k) for k in ("cuda_version", "cudnn_version")},
        "gpu_found": bool(gpus),
        "gpus": listed,
        "devices": describe_devices(gpus),
    }


def peak_memory_mb(gpu: bool):
    """Peak GPU:0 allocator memory since the last reset (None on a CPU: TensorFlow has no such counter)."""
    if not gpu:
        return None
    import tensorflow as tf

    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


def reset_peak(gpu: bool) -> None:
    if gpu:
        import tensorflow as tf

        tf.config.experimental.reset_memory_stats("GPU:0")


def train_variant(config, overrides: dict, plan: dict, gpu: bool, deadline: float) -> tuple:
    """Training speed of one variant; returns (result dict, trainer) so generation can reuse the generator."""
    from train_benchmark import synthetic_batch, time_train_calls

    from configs import replace
    from training.devices import device_report
    from training.loop import Trainer

    config = replace(config, train_params={"steps_per_call": 1, **overrides})
    batch_size = config.train_params.batch_size
    logdir = tempfile.mkdtemp(prefix="coco_gan_gpu_check_")
    try:
        reset_peak(gpu)
        trainer = Trainer(config, logdir, log=lambda *_: None)
        timings, _, _ = time_train_calls(
            trainer, synthetic_batch(config, batch_size), plan["warmup"], plan["iters"], deadline
        )
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    its = 1.0 / timings["iter_s_median"]
    result = {
        "mixed_precision": config.train_params.mixed_precision,
        "jit_compile": bool(config.train_params.jit_compile),
        "batch_size": batch_size,
        "report": device_report(trainer.strategy, config.train_params.mixed_precision, config.train_params.jit_compile),
        **timings,
        "its": its,
        "images_per_s": its * batch_size,
        "peak_gpu_memory_mb": peak_memory_mb(gpu),
    }
    return result, trainer


def highres_part(trainer, plan: dict) -> dict:
    """One image of highres_size^2 pixels generated by parts, streamed to a temporary .npy."""
    import numpy as np

    from generation.highres import generate_highres
    from generation.sampling import sample_latents

    geo = trainer.geo
    size = plan["highres_size"]
    grid = (size // geo.micro_size[0], size // geo.micro_size[1])
    z = np.asarray(sample_latents(1, trainer.config.model_params.z_dim, 0))
    out = tempfile.mkdtemp(prefix="coco_gan_gpu_check_highres_")
    try:
        t = time.perf_counter()
        generate_highres(
            trainer.state.generator,
            geo,
            z,
            grid,
            os.path.join(out, "highres"),
            formats=("npy",),
            layout="stretch",
            patch_batch=plan["patch_batch"],
        )
        seconds = time.perf_counter() - t
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "size": [grid[0] * geo.micro_size[0], grid[1] * geo.micro_size[1]],
        "grid": list(grid),
        "patches": grid[0] * grid[1],
        "patch_batch": plan["patch_batch"],
        "seconds": seconds,  # includes the first call's tracing
        "patches_per_s": grid[0] * grid[1] / seconds,
    }


def fid_part(plan: dict, deadline: float) -> dict:
    """Inception pool_3 features of fid_images random uint8 images; batches stop at the deadline."""
    import numpy as np

    try:
        from fid.statistics import FeatureExtractor

        extractor = FeatureExtractor(verbose=False)
    except Exception as e:  # the package or its weights missing: a note, not a failure
        return {
            "skipped": f"FID network unavailable ({type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''})"
        }
    size, batch = plan["fid_size"], plan["fid_batch"]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    t = time.perf_counter()
    extractor(images)
    first = time.perf_counter() - t
    done, t = 0, time.perf_counter()
    while done < plan["fid_images"]:
        if done and time.perf_counter() > deadline:
            break
        n = min(batch, plan["fid_images"] - done)
        extractor(images[:n])
        done += n
    seconds = time.perf_counter() - t
    return {
        "images": done,
        "requested_images": plan["fid_images"],
        "batch": batch,
        "image_size": [size, size],
        "first_call_s": first,
        "seconds": seconds,
        "images_per_s": done / seconds,
    }


def run(
    minutes: float, out: pathlib.Path, force_cpu_plan: bool = False, variants: list | None = None, log=print
) -> dict:
    start = time.perf_counter()
    budget = minutes * 60.0
    deadline = start + budget
    spent = lambda part: f"skipped: the {minutes:g}-minute budget was spent before {part}"  # noqa: E731

    from configs import config_path, load_config

    report = {"budget_minutes": minutes}
    report.update(device_section())
    gpu = report["gpu_found"] and not force_cpu_plan
    plan = PLANS["gpu" if gpu else "cpu"]
    if variants:
        unknown = sorted(set(variants) - set(plan["variants"]))
        if unknown:
            raise UserError(f"--variants {', '.join(unknown)}: this plan has {', '.join(plan['variants'])}")
        plan = {**plan, "variants": {k: v for k, v in plan["variants"].items() if k in variants}}
    if not report["gpu_found"]:
        report["note"] = (
            "no GPU found: ran the CPU path on configs/tiny.yaml (fewer iterations, a small image, few FID "
            "images); for GPU support: pip install -r requirements-gpu.txt"
        )
    config = load_config(config_path(plan["config"]))
    report.update(
        config=plan["config"],
        batch_size=config.train_params.batch_size,
        plan={k: v for k, v in plan.items() if k != "variants"},
        train={},
    )
    log(f"gpu_check: {report['devices']}; {plan['config']} at batch {config.train_params.batch_size}")
    write_json(out, report)

    train_deadline = start + TRAIN_SHARE * budget
    report["highres"] = {"skipped": "no trained fp32 generator (its variant failed or was skipped)"}
    for index, (name, overrides) in enumerate(plan["variants"].items()):
        now = time.perf_counter()
        if now > train_deadline:
            report["train"][name] = {"skipped": spent(f"training variant {name}")}
            continue
        try:
            # What is left of the training share, split over the variants still to run.
            share = (train_deadline - now) / (len(plan["variants"]) - index)
            result, trainer = train_variant(config, overrides, plan, gpu, now + share)
        except Exception as e:  # e.g. out of GPU memory in one variant: keep the others
            report["train"][name] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"}
            log(f"  {name}: failed ({report['train'][name]['error']})")
            write_json(out, report)
            continue
        report["train"][name] = result
        peak = result["peak_gpu_memory_mb"]
        log(
            f"  {name}: {result['its']:.2f} it/s, {result['images_per_s']:.1f} images/s, first call "
            f"{result['first_call_s']:.1f} s, {result['iters_timed']} timed iterations"
            + (f", peak GPU memory {peak:.0f} MiB" if peak is not None else "")
        )
        if not overrides:  # the fp32 generator makes the high-resolution image, before it is dropped
            if time.perf_counter() > deadline:
                report["highres"] = {"skipped": spent("the high-resolution generation")}
            else:
                reset_peak(gpu)
                report["highres"] = highres_part(trainer, plan)
                report["highres"]["peak_gpu_memory_mb"] = peak_memory_mb(gpu)
                h = report["highres"]
                log(f"  highres {h['size'][0]}x{h['size'][1]}: {h['seconds']:.2f} s ({h['patches']} patches)")
        del trainer  # free its memory before the next variant's peak is measured
        gc.collect()
        write_json(out, report)

    if time.perf_counter() > deadline:
        report["fid"] = {"skipped": spent("the FID network")}
    else:
        report["fid"] = fid_part(plan, deadline)
        if "images_per_s" in report["fid"]:
            log(f"  FID features: {report['fid']['images_per_s']:.1f} images/s ({report['fid']['images']} images)")
        else:
            log(f"  FID: {report['fid']['skipped']}")
    report["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report["elapsed_s"] = time.perf_counter() - start
    write_json(out, report)
    log(f"gpu_check: wrote {out} ({report['elapsed_s']:.0f} s)")
    return report


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=5.0, help="time budget of the whole check")
    p.add_argument("--out", default="gpu_check.json", help="JSON report")
    p.add_argument("--cpu_plan", action="store_true", help="run the tiny CPU plan even when a GPU is visible")
    p.add_argument("--variants", nargs="+", default=None, help="a subset of the plan's training variants")
    args = p.parse_args(argv)
    if not args.minutes > 0:
        raise UserError(f"--minutes={args.minutes:g} must be positive")
    out = pathlib.Path(args.out)
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")
    return run(args.minutes, out, force_cpu_plan=args.cpu_plan, variants=args.variants)


if __name__ == "__main__":
    exit_on_user_error(main)
