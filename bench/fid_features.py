"""Images/s of Inception pool_3 feature extraction (fid/), excluding image loading.

  python bench/fid_features.py --data_dir DIR/celeba_10k \
      --size 64 --num_images 200 --batch_size 50

Images are decoded, CelebA-cropped and resized first; only the tf.function
forward pass is timed, after one warm-up batch (tracing). On a shared machine
the number depends on what else runs: report the load average with it.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags

from fid import images, statistics

flags.DEFINE_string("data_dir", None, "Image folder.")
flags.DEFINE_integer("size", 64, "Resize (with the CelebA crop) to this size first.")
flags.DEFINE_integer("num_images", 200, "Images to time.")
flags.DEFINE_integer("batch_size", 50, "Inception batch size.")
FLAGS = flags.FLAGS


def main(_):
    paths = images.list_images(FLAGS.data_dir, 0, FLAGS.num_images + FLAGS.batch_size)
    batches = list(images.iterate_batches(paths, FLAGS.batch_size, FLAGS.size, celeba_crop=True))
    extractor = statistics.FeatureExtractor()
    extractor(batches[0])  # trace + warm-up, not timed
    timed = batches[1:]
    start = time.perf_counter()
    count = sum(len(extractor(batch)) for batch in timed)
    elapsed = time.perf_counter() - start
    print(
        f"{count} images of {FLAGS.size}x{FLAGS.size} (resized to 299 inside) in "
        f"{elapsed:.1f} s: {count / elapsed:.2f} images/s, batch {FLAGS.batch_size}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    flags.mark_flag_as_required("data_dir")
    app.run(main)
