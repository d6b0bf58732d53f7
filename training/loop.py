"""The training loop: data in, steps in a tf.function, TensorBoard, PNG grids, checkpoints.

`train(config, logdir)` resumes automatically from the newest checkpoint in
`logdir/checkpoints`, saves on SIGINT/SIGTERM before exiting, and stops with a clear
message (without saving) if a loss becomes non-finite.
"""

from __future__ import annotations

import math
import pathlib
import shutil
import signal
import tempfile
import time

import tensorflow as tf

from configs import Config, UserError
from data.pipeline import make_training_dataset
from data.pixels import to_uint8
from generation.sampling import generate_full_images, image_grid, sample_latents, save_png
from generation.seams import seam_ratio
from geometry import PatchGeometry
from training.checkpointing import drop_run_lock, hold_run_lock, io_error_message
from training.distribute import distribute_dataset
from training.extrapolation import ExtrapolationStep
from training.fid_hook import FidHook
from training.state import build_training_state, check_or_write_config, checkpoint_manager
from training.step import CocoGanStep
from training.warm_start import restore_or_warm_start

SAMPLE_SEED = 12345  # the fixed-z grid is the same in every run of a configuration


class TrainingDiverged(UserError):
    """A loss or weight became NaN/Inf; the last good checkpoint is kept."""


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag the loop checks between calls (then it saves and exits)."""

    def __init__(self):
        self.signum = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (e.g. inside some test runners)
                pass
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:  # second signal: stop now
            raise KeyboardInterrupt
        self.signum = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _fmt_rate(x):
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


class Trainer:
    """Owns the training state, the distribution strategy, the step function and the writers."""

    def __init__(
        self,
        config: Config,
        logdir,
        strategy: tf.distribute.Strategy | None = None,
        data_dir: str | None = None,
        log=print,
    ):
        self.config = config
        self.logdir = pathlib.Path(logdir)
        self.strategy = strategy or tf.distribute.get_strategy()
        self.data_dir = data_dir
        self.log = log
        self.geo = PatchGeometry.from_config(config)
        self.is_chief = _is_chief(self.strategy)
        if self.logdir.exists() and not self.logdir.is_dir():
            raise UserError(f"--logdir {self.logdir} is a file, not a folder; pass a folder")
        if self.is_chief:  # other workers of a multi-worker run write nothing into logdir
            check_or_write_config(config, self.logdir, write=False)  # written once the restore succeeded
        if config.train_params.deterministic:
            tf.config.experimental.enable_op_determinism()  # process-wide and irreversible
        with self.strategy.scope():
            self.state = build_training_state(config)
            if config.train_params.train_extrap:  # beyond-boundary fine-tuning: training/extrapolation.py
                self.step_fn = ExtrapolationStep.from_state(config, self.state, self.geo)
            else:
                self.step_fn = CocoGanStep(config, self.state.models, self.state.optimizers, self.geo)
        # Every worker restores from the chief's checkpoints (a shared filesystem when resuming).
        self.manager = checkpoint_manager(self.state, self.logdir)
        self.start_step = restore_or_warm_start(self.state, self.manager, log)  # + force_load_from_dir
        if self.is_chief:
            try:
                self.logdir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise UserError(f"cannot create --logdir {self.logdir} ({e.strerror})") from None
            check_or_write_config(config, self.logdir)
        self.writer = tf.summary.create_file_writer(str(self.logdir)) if self.is_chief else None
        self.sample_z = sample_latents(config.log_params.num_sample_images, config.model_params.z_dim, SAMPLE_SEED)
        # iterations per call (steps_per_call, or fewer for a shortened last call) -> its traced call, kept
        # for a later fit() on this Trainer: the variables and the step counter it captured are the same
        # objects (a new iterator has the same type), so each is traced once per Trainer.
        self._train_calls: dict = {}
        self._step = self.start_step  # where the next fit() starts
        self._weights_finite = None
        self._saved_step = self.start_step if self.manager.latest_checkpoint else None
        self.train_seconds = float(self.state.train_seconds.numpy())  # restored; state.py has the variable
        self.fid_hook = FidHook(self) if self.is_chief and FidHook.enabled(config) else None

    # ---------------------------------------------------------------- compiled step
    def _build_train_calls(self, steps_per_call: int):
        strategy, state = self.strategy, self.state
        # Autograph is off inside the iteration (the step has no tensor-dependent Python control
        # flow), which halves tracing time. With train_params.jit_compile XLA compiles only the
        # update, as a nested tf.function: the data iterator cannot live in an XLA cluster, and
        # the random draws stay outside so that they do not depend on jit_compile (step.py).
        # Without XLA the update is not a nested tf.function: under MultiWorkerMirroredStrategy
        # a nested function may not contain the merge_call of optimizer and SN-u updates.
        update = self.step_fn.update
        if self.config.train_params.jit_compile:
            update = tf.function(update, autograph=False, jit_compile=True)

        @tf.autograph.experimental.do_not_convert
        def replica_step(batch, step):
            real, offsets = batch["macro_patches"], batch["macro_offsets"]
            z, eps = self.step_fn.random_inputs(step, tf.shape(real)[0])
            return update(real, offsets, z, eps)

        def one_step(iterator):
            batch = next(iterator)
            per_replica = strategy.run(replica_step, args=(batch, state.step))
            state.step.assign_add(1)
            return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}

        @tf.function
        def train_calls(iterator):
            metrics = one_step(iterator)
            if steps_per_call == 1:  # no loop: a while loop's body is traced even for 0 trips
                return metrics
            for _ in tf.range(steps_per_call - 1):
                metrics = one_step(iterator)
            return metrics

        return train_calls

    # ----------------------------------------------------------------- outputs
    def sample_full_images(self):
        """Assembled full images [N, H, W, C] in [-1, 1] for the fixed z."""
        return generate_full_images(self.state.generator, self.geo, self.sample_z, batch_size=16)

    def sample_images(self, images=None):
        """uint8 grid of assembled full images for the fixed z."""
        return image_grid(to_uint8(self.sample_full_images() if images is None else images))

    def nonfinite_weights(self) -> list:
        """Names of the networks holding a NaN/Inf weight (or batch-norm / spectral-norm state)."""
        if self._weights_finite is None:
            models = self.state.models

            @tf.function
            def weights_finite():
                return {
                    name: tf.reduce_all(
                        [
                            tf.reduce_all(tf.math.is_finite(v))
                            for v in model.variables
                            if tf.as_dtype(v.dtype).is_floating
                        ]
                    )
                    for name, model in models.items()
                }

            self._weights_finite = weights_finite
        return [name for name, ok in self._weights_finite().items() if not bool(ok)]

    def _check_finite(self, metrics: dict, step: int, n: int) -> None:
        """Stop (TrainingDiverged, nothing saved) on a non-finite loss or weight."""
        where = f"step {step}" if n == 1 else f"steps {step - n + 1}-{step}"
        last = (
            f"not saved; the last good checkpoint is {self.manager.latest_checkpoint or '(none)'} "
            f"(lower the learning rates or check the data)"
        )
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        message = f"non-finite {', '.join(bad)} in {where}; {last}"
        if not bad:
            bad = self.nonfinite_weights()
            message = f"non-finite weights in {', '.join(bad)} after {where}; {last}"
        if bad:
            if self.writer is not None:
                self.writer.flush()  # keep the scalars logged up to the divergence
            raise TrainingDiverged(message)

    def save_checkpoint(self, step: int) -> str:
        if step == self._saved_step:  # e.g. a stop signal right after a periodic save: same state
            return self.manager.latest_checkpoint
        self.state.train_seconds.assign(self.train_seconds)
        if not self.is_chief:
            # Under MultiWorkerMirroredStrategy every worker must take part in a save (it may
            # run collective ops); non-chief workers write to a temporary directory that is
            # deleted at once (the pattern of the TF multi-worker guide).
            tmp = tempfile.mkdtemp(prefix="coco_gan_worker_ckpt_")
            try:
                tf.train.CheckpointManager(self.state.checkpoint, tmp, max_to_keep=1).save(checkpoint_number=step)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            return self.manager.latest_checkpoint
        path = self.manager.save(checkpoint_number=step)
        self._saved_step = step
        self.dump_sample_grid(step, f"; checkpoint {path} is saved")
        return path

    def dump_sample_grid(self, step: int, note: str = "") -> None:
        """The fixed-z grid of full images as LOGDIR/samples_<step>.png (at every checkpoint and every
        log_params.dump_img_step, the official image dump)."""
        png = self.logdir / f"samples_{step:07d}.png"
        try:
            save_png(png, self.sample_images())
        except (OSError, tf.errors.OpError) as e:
            raise UserError(io_error_message("write", png, e) + note) from None

    def _write_scalars(self, metrics: dict, step: int, rates: dict):
        with self.writer.as_default(step=step):
            for name, value in metrics.items():
                tf.summary.scalar(name, value)
            for name, value in rates.items():
                tf.summary.scalar(name, value)

    def _write_images(self, step: int, batch=None):
        with self.writer.as_default(step=step):
            images = self.sample_full_images()
            tf.summary.image("samples/full_images_fixed_z", self.sample_images(images)[None], max_outputs=1)
            if max(self.geo.grid_shape) > 1:  # 1.0 for real images; > 1 while micro-patch seams show
                tf.summary.scalar("metric/seam_ratio", seam_ratio(to_uint8(images), self.geo.micro_size))
            if batch is not None:
                real = batch["macro_patches"][:16]
                fake = self.step_fn.generate_macro(
                    self.sample_z[: real.shape[0]], batch["macro_offsets"][:16], training=False
                )
                tf.summary.image("samples/macro_real", image_grid(to_uint8(real))[None], max_outputs=1)
                tf.summary.image("samples/macro_fake", image_grid(to_uint8(fake))[None], max_outputs=1)

    # -------------------------------------------------------------------- loop
    def fit(self, total_steps: int | None = None) -> dict:
        """Train until `total_steps` (default: the config's); returns the last metrics. A later fit() on
        this Trainer continues from the step where this one stopped, with the calls traced here."""
        cfg = self.config
        total = cfg.train_params.total_steps if total_steps is None else total_steps
        step = self._step
        if step and step == self.start_step:
            self.log(f"Resumed from step {step} ({self.manager.latest_checkpoint})")
        if step >= total:
            self.log(f"Nothing to do: step {step} >= total_steps {total:g}")
            return {}
        budget = cfg.train_params.total_train_minutes * 60.0
        if self.train_seconds >= budget:
            self.log(
                f"Nothing to do: {self.train_seconds / 60:.2f} training minutes >= total_train_minutes "
                f"{cfg.train_params.total_train_minutes:g}"
            )
            return {}
        dataset = make_training_dataset(cfg, seed=cfg.train_params.seed, start_batch=step, data_dir=self.data_dir)
        # Without tf.data's autotuning model thread: releasing the iterator joins that thread, and
        # after a few minutes of training the join took up to its optimisation period (which
        # doubles to 60 s) at exit (docs/reliability.md, Exit latency). AUTOTUNE then means TF's
        # fixed defaults; the GAN step, not the input pipeline, bounds the speed here.
        dataset = dataset.with_options(_without_autotune())
        iterator = iter(distribute_dataset(self.strategy, dataset))
        preview = next(iter(dataset.take(1))) if self.is_chief else None
        spc = int(cfg.train_params.steps_per_call)
        calls = self._train_calls
        batch = cfg.train_params.batch_size
        lp = cfg.log_params
        metrics, last_logged_step, t_last = {}, step, time.perf_counter()
        with _StopRequest() as stop:
            while step < total and self.train_seconds < budget:
                n = int(min(spc, total - step))
                first_call = n not in calls
                if first_call:
                    calls[n] = self._build_train_calls(n)
                t_call = time.perf_counter()
                metrics = {k: float(v) for k, v in calls[n](iterator).items()}  # float(): waits for the step
                # Training time (total_train_minutes, docs/study.md) counts these calls only, so FID,
                # image summaries and checkpoint writes are left out. The first call of each compiled
                # function, hence the first of every process, is left out too: it traces the step and,
                # with jit_compile, runs XLA's compilation.
                if not first_call:
                    self.train_seconds += time.perf_counter() - t_call
                step += n
                self._step = step
                out_of_time = self.train_seconds >= budget
                self._check_finite(metrics, step, n)
                crossed = lambda period: _crossed(step - n, step, period)
                if crossed(lp.log_step) or step >= total or out_of_time:
                    now = time.perf_counter()
                    its = (step - last_logged_step) / max(now - t_last, 1e-9)
                    rates = {
                        "perf/steps_per_sec": its,
                        "perf/images_per_sec": its * batch,
                        "perf/train_minutes": self.train_seconds / 60,
                    }
                    last_logged_step, t_last = step, now
                    if self.is_chief:
                        self._write_scalars(metrics, step, rates)
                    self.log(
                        f"step {step}/{total:g} | d {metrics['loss/d']:.3f} g {metrics['loss/g']:.3f} "
                        f"gp {metrics['loss/gp']:.3f} W {metrics['loss/wasserstein']:.3f} "
                        f"spatial {metrics['loss/spatial_real']:.3f} | {_fmt_rate(its)} it/s "
                        f"{_fmt_rate(its * batch)} img/s | {self.train_seconds / 60:.2f} train min"
                    )
                if self.is_chief and crossed(lp.img_step):
                    self._write_images(step, preview)
                if self.is_chief and crossed(lp.dump_img_step) and not crossed(lp.ckpt_step):
                    self.dump_sample_grid(step)  # a checkpoint at this step writes it anyway
                if self.fid_hook is not None and crossed(lp.fid_step):
                    result = self.fid_hook(step)
                    with self.writer.as_default(step=step):
                        tf.summary.scalar(f"metric/{result.name}", result.fid)
                    self.log(
                        f"step {step}: {result.name} {result.fid:.2f} (best {result.best_fid:.2f} "
                        f"at step {result.best_step})"
                    )
                if crossed(lp.ckpt_step) or step >= total or out_of_time:
                    path = self.save_checkpoint(step)
                    if out_of_time:
                        self.log(
                            f"Reached total_train_minutes {cfg.train_params.total_train_minutes:g} "
                            f"({self.train_seconds / 60:.2f} training minutes) at step {step}; saved {path}"
                        )
                if stop.signum is not None:
                    path = self.save_checkpoint(step)
                    self.log(f"Stopped by signal {stop.signum} at step {step}; saved {path}")
                    break
        if self.writer is not None:
            self.writer.flush()
        return metrics


def _without_autotune() -> tf.data.Options:
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def _crossed(before: int, after: int, period) -> bool:
    """Did (before, after] contain a multiple of period? (steps advance by steps_per_call)."""
    if not math.isfinite(period) or period < 1:
        return False
    period = int(period)
    return after // period > before // period


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "cluster_spec", None):
        return True
    spec = resolver.cluster_spec().as_dict()
    if not spec:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in spec)


def train(config: Config, logdir, strategy=None, data_dir=None, total_steps=None, log=print) -> dict:
    """Train into `logdir` (main.py's entry point); returns the last metrics.

    The chief holds the log directory's run lock (training/checkpointing.py RunLock) from
    before the first write until the process exits, so a second run on the same folder is
    refused at once; a run that fails releases it (and removes the folders it created if empty).
    """
    lock = hold_run_lock(logdir) if _is_chief(strategy or tf.distribute.get_strategy()) else None
    try:
        trainer = Trainer(config, logdir, strategy=strategy, data_dir=data_dir, log=log)
        metrics = trainer.fit(total_steps)
    except BaseException:
        if lock is not None:
            drop_run_lock(lock)
        raise
    if lock is not None:
        lock.active = False  # still held: released when the process exits
    return metrics


__all__ = ["Trainer", "train", "TrainingDiverged"]
