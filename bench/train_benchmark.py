"""Training throughput, FLOP/s against this machine's matmul peak, generation and FID feature speed.

For a configuration (default CelebA_64x64_N2M2S32, full width) and each batch size x variant
(fp32 graph, fp32 + XLA, mixed_bfloat16, ...), in a fresh subprocess each (clean peak RSS, no
shared tracing or dtype policy):

* training iterations/s and images/s: the Trainer's own compiled call (training/loop.py,
  steps_per_call 1, one host sync per iteration as in training) on a synthetic in-memory batch of
  the real shape (tf.data from_tensors().repeat(): the input pipeline costs nothing here);
  `--warmup` iterations (tracing, compilation), then `--iters` timed ones;
* FLOPs per iteration: TensorFlow's profiler (tf.compat.v1.profiler float_operation) on the
  graph of the traced iteration (D step with the gradient penalty's double backward, G step,
  optimizer updates; every op with a registered FLOP count, which covers Conv2D, its two
  backprops, MatMul and the element-wise ops); the conv/matmul part is shown separately;
* achieved FLOP/s = FLOPs x iterations/s, and its fraction of the measured peak: the best of
  several float32 tf.linalg.matmul of 2048 x 2048 (2 n^3 FLOPs);
* peak RSS of the subprocess (resource.getrusage ru_maxrss);
* generation images/s: generation.sampling.generate_full_images (full 64x64 images, G on all
  16 micro coordinates) inside a tf.function;
* FID feature images/s: fid.statistics.FeatureExtractor (Inception pool_3) on uint8 images of
  the training size, if the fid package and its weights are available (skipped otherwise);
* the real pipeline's images/s (data.pipeline.make_training_dataset) if --data_dir exists.

`--profile DIR` also records a tf.profiler trace of a few iterations and prints where the time
goes by op type (parsed from the .xplane.pb; open DIR in TensorBoard's profile plugin for more).

    python bench/train_benchmark.py                                   # table
    python bench/train_benchmark.py --batch_sizes 16 64 --variants fp32 xla bf16 --json bench.json
    python bench/train_benchmark.py --batch_sizes 16 --variants fp32 --profile /tmp/prof

Numbers on a shared CPU are noisy: the load average is printed with every row.
"""

from __future__ import annotations

import argparse
import collections
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

VARIANTS = {  # name -> train_params overrides
    "fp32": {},
    "xla": {"jit_compile": True},
    "bf16": {"mixed_precision": "mixed_bfloat16"},
    "bf16_xla": {"mixed_precision": "mixed_bfloat16", "jit_compile": True},
    "fp16": {"mixed_precision": "mixed_float16"},
}
DEFAULT_DATA = REPO.parent / "shared" / "data" / "celeba_10k_89x109"


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# ------------------------------------------------------------------ measurements (in a worker)
def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """Best float32 FLOP/s of an n x n matmul on this machine (2 n^3 FLOPs)."""
    import tensorflow as tf

    a = tf.random.uniform([n, n])
    b = tf.random.uniform([n, n])
    mm = tf.function(lambda x, y: tf.reduce_sum(tf.linalg.matmul(x, y)))
    mm(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best


def synthetic_batch(config, batch_size: int, seed: int = 0):
    import tensorflow as tf

    from geometry import PatchGeometry

    geo = PatchGeometry.from_config(config)
    q = config.data_params.macro_patch_size
    real = tf.random.stateless_uniform([batch_size, q[0], q[1], config.data_params.c_dim], [seed, 1], -1.0, 1.0)
    offsets = geo.sample_offsets(batch_size, tf.constant([seed, 2], tf.int64))
    return {"macro_patches": real, "macro_offsets": offsets}


def iteration_flops(trainer, batch) -> dict:
    """Profiler FLOPs of one iteration's update graph (forward, backward, GP double backward, Adam)."""
    import tensorflow as tf

    step = trainer.step_fn
    z, eps = step.random_inputs(tf.constant(0, tf.int64), batch["macro_patches"].shape[0])
    graph_fn = tf.function(step.update, autograph=False)
    graph = graph_fn.get_concrete_function(batch["macro_patches"], batch["macro_offsets"], z, eps).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    opts["select"] = ["float_ops"]
    prof = tf.compat.v1.profiler.profile(graph, options=opts, cmd="op")
    by_type = {c.name: c.total_float_ops for c in prof.children}
    dense = sum(v for k, v in by_type.items() if k.startswith(("Conv2D", "MatMul", "BatchMatMul")))
    return {"flops": float(prof.total_float_ops), "conv_matmul_flops": float(dense), "by_type": by_type}


def time_train_calls(trainer, batch, warmup: int, iters: int, deadline: float | None = None) -> tuple:
    """Times the Trainer's compiled call on `batch` repeated: (timings dict, call, iterator).

    The first call (tracing, compilation) is timed apart, then `warmup` untimed and `iters` timed
    iterations; past `deadline` (time.perf_counter()) no further iteration starts and
    "iters_timed" says how many ran (at least one).
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(trainer.strategy.experimental_distribute_dataset(dataset))
    call = trainer._build_train_calls(1)
    t = time.perf_counter()
    float(call(iterator)["loss/d"])
    first = time.perf_counter() - t
    late = lambda: deadline is not None and time.perf_counter() > deadline  # noqa: E731
    for _ in range(warmup):
        if late():
            break
        float(call(iterator)["loss/d"])
    times = []
    for _ in range(iters):
        if times and late():
            break
        t = time.perf_counter()
        float(call(iterator)["loss/d"])  # one host sync per iteration, as training with steps_per_call 1
        times.append(time.perf_counter() - t)
    out = {
        "first_call_s": first,
        "iters_timed": len(times),
        "iter_s_median": sorted(times)[len(times) // 2],
        "iter_s_best": min(times),
        "iter_s_mean": sum(times) / len(times),
    }
    return out, call, iterator


def train_speed(config, batch_size: int, warmup: int, iters: int, profile_dir: str | None) -> dict:
    import tensorflow as tf

    from training.loop import Trainer

    batch = synthetic_batch(config, batch_size)
    logdir = tempfile.mkdtemp(prefix="coco_gan_bench_")
    trainer = Trainer(config, logdir, log=lambda *_: None)
    out, call, iterator = time_train_calls(trainer, batch, warmup, iters)
    out.update(iteration_flops(trainer, batch))
    if profile_dir:
        tf.profiler.experimental.start(profile_dir)
        for _ in range(3):
            float(call(iterator)["loss/d"])
        tf.profiler.experimental.stop()
        out["profile"] = summarise_profile(profile_dir)
    out["generation_images_per_s"] = generation_speed(trainer, batch_size)
    return out


def generation_speed(trainer, batch_size: int, repeats: int = 3) -> float:
    import tensorflow as tf

    from generation.sampling import generate_full_images, sample_latents

    z = sample_latents(batch_size, trainer.config.model_params.z_dim, 0)
    gen = tf.function(lambda z: generate_full_images(trainer.state.generator, trainer.geo, z), autograph=False)
    gen(z).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        gen(z).numpy()
        best = min(best, time.perf_counter() - t)
    return batch_size / best


def fid_feature_speed(size, batch_size: int = 16, repeats: int = 3):
    try:
        import numpy as np

        from fid.statistics import FeatureExtractor

        extractor = FeatureExtractor(verbose=False)
    except Exception as e:  # package or weights missing: skip with a note
        return None, f"skipped ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
    images = np.random.default_rng(0).integers(0, 256, (batch_size, size[0], size[1], 3), dtype=np.uint8)
    extractor(images)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        extractor(images)
        best = min(best, time.perf_counter() - t)
    return batch_size / best, "fid.statistics.FeatureExtractor (Inception pool_3, resized to 299)"


def pipeline_speed(config, batch_size: int, data_dir, batches: int = 20):
    if not data_dir or not pathlib.Path(data_dir).is_dir():
        return None
    from configs import replace
    from data.pipeline import make_training_dataset

    cfg = replace(config, data_params={"data_dir": str(data_dir)}, train_params={"batch_size": batch_size})
    it = iter(make_training_dataset(cfg, seed=0, start_batch=0))
    for _ in range(5):
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)["macro_patches"].numpy()
    return batches * batch_size / (time.perf_counter() - t)


def summarise_profile(profile_dir: str, top: int = 12) -> dict:
    """Time by TensorFlow op type from the trace's .xplane.pb (host CPU threads)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = sorted(pathlib.Path(profile_dir).rglob("*.xplane.pb"))
    if not files:
        return {}
    space = xplane_pb2.XSpace()
    space.ParseFromString(files[-1].read_bytes())
    totals = collections.Counter()
    for plane in space.planes:
        names = {k: m.name for k, m in plane.event_metadata.items()}
        for line in plane.lines:
            for ev in line.events:
                name = names.get(ev.metadata_id, "")
                if ":" not in name or name.startswith(("$", "Iterator")) or "__inference" in name:
                    continue  # keep "op_name:OpType" events; drop function/executor wrappers
                op_type = name.rsplit(":", 1)[-1].strip()
                if op_type and op_type not in ("Process", "Run") and op_type[0].isupper():
                    totals[op_type] += ev.duration_ps / 1e12
    total = sum(totals.values()) or 1.0
    return {"total_op_s": total, "top": [(k, v, v / total) for k, v in totals.most_common(top)]}


def worker(args) -> dict:
    from configs import config_path, load_config, replace

    path = pathlib.Path(args.config)
    config = load_config(path if path.suffix == ".yaml" else config_path(args.config))
    config = replace(config, train_params={"batch_size": args.batch, "steps_per_call": 1, **VARIANTS[args.variant]})
    out = {"variant": args.variant, "batch": args.batch, "load_before": load_average()}
    out.update(train_speed(config, args.batch, args.warmup, args.iters, args.profile))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["load_after"] = load_average()
    return out


# ------------------------------------------------------------------------------- driver
def run_worker(args, variant, batch) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--_worker",
        "--config",
        args.config,
        "--variant",
        variant,
        "--batch",
        str(batch),
        "--warmup",
        str(args.warmup),
        "--iters",
        str(args.iters),
    ]
    if args.profile:
        cmd += ["--profile", str(pathlib.Path(args.profile) / f"{variant}_b{batch}")]
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        run = subprocess.run(cmd + ["--_out", f.name], capture_output=True, text=True)
        if run.returncode:
            return {"variant": variant, "batch": batch, "error": run.stderr.strip().splitlines()[-1:]}
        return json.loads(pathlib.Path(f.name).read_text())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="CelebA_64x64_N2M2S32")
    p.add_argument("--batch_sizes", type=int, nargs="+", default=[16, 64])
    p.add_argument("--variants", nargs="+", default=["fp32", "xla", "bf16"], choices=sorted(VARIANTS))
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--matmul_size", type=int, default=2048)
    p.add_argument("--data_dir", default=str(DEFAULT_DATA), help="real images for the pipeline row (optional)")
    p.add_argument("--skip_fid", action="store_true")
    p.add_argument("--profile", default=None, help="directory for tf.profiler traces (+ summary)")
    p.add_argument("--json", default=None, help="write all results here")
    p.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--variant", default="fp32", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=16, help=argparse.SUPPRESS)
    p.add_argument("--_out", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._worker:
        pathlib.Path(args._out).write_text(json.dumps(worker(args)))
        return

    from configs import config_path, load_config

    path = pathlib.Path(args.config)
    config = load_config(path if path.suffix == ".yaml" else config_path(args.config))
    peak = matmul_peak(args.matmul_size)
    print(
        f"# {config.log_params.exp_name}: matmul peak (float32 {args.matmul_size}^2, best of 10) "
        f"{peak / 1e9:.1f} GFLOP/s; load average {load_average()}; {os.cpu_count()} CPUs",
        flush=True,
    )
    rows = []
    header = (
        f"{'variant':<9}{'batch':>6}{'it/s':>8}{'img/s':>8}{'GFLOP/it':>10}{'conv+mm':>9}"
        f"{'GFLOP/s':>9}{'%peak':>7}{'gen img/s':>10}{'RSS MB':>8}{'1st call s':>11}  load 1/5/15"
    )
    print(header, flush=True)
    for batch in args.batch_sizes:
        for variant in args.variants:
            r = run_worker(args, variant, batch)
            rows.append(r)
            if "error" in r:
                print(f"{variant:<9}{batch:>6}  failed: {r['error']}", flush=True)
                continue
            its = 1.0 / r["iter_s_median"]
            r.update(
                its=its,
                images_per_s=its * batch,
                achieved_flops=r["flops"] * its,
                peak_flops=peak,
                fraction_of_peak=r["flops"] * its / peak,
            )
            print(
                f"{variant:<9}{batch:>6}{its:>8.3f}{its * batch:>8.1f}{r['flops'] / 1e9:>10.1f}"
                f"{r['conv_matmul_flops'] / r['flops']:>9.0%}{r['achieved_flops'] / 1e9:>9.1f}"
                f"{r['fraction_of_peak']:>7.0%}{r['generation_images_per_s']:>10.1f}{r['peak_rss_mb']:>8.0f}"
                f"{r['first_call_s']:>11.1f}  {r['load_after']}",
                flush=True,
            )
            if r.get("profile"):
                prof = r["profile"]
                print(
                    f"    profile ({prof['total_op_s']:.2f} s of op time over 3 iterations): "
                    + ", ".join(f"{k} {frac:.0%}" for k, _, frac in prof["top"]),
                    flush=True,
                )
    extra = {"peak_flops": peak, "load_average_end": load_average()}
    if not args.skip_fid:
        speed, note = fid_feature_speed(config.data_params.full_image_size)
        extra["fid_features_images_per_s"], extra["fid_note"] = speed, note
        print(f"FID features: {f'{speed:.1f} images/s' if speed else ''} {note}", flush=True)
    pipe = pipeline_speed(config, max(args.batch_sizes), args.data_dir)
    if pipe:
        extra["pipeline_images_per_s"] = pipe
        print(
            f"real input pipeline ({args.data_dir}, batch {max(args.batch_sizes)}): {pipe:.0f} images/s "
            f"(vs the training images/s above)",
            flush=True,
        )
    print(f"# load average at end {load_average()}", flush=True)
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"rows": rows, **extra}, indent=1))


if __name__ == "__main__":
    main()
