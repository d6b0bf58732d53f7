"""Listing and cheap validation of image folders (no TFRecord step, no full decode).

Policy for bad input:
* missing path, a path that is not a folder, a folder with no .jpg/.jpeg/.png file:
  `UserError` (one line, the CLI prints it and exits 1).
* files with other extensions (.txt, .csv, ...) are ignored and counted.
* an image file that cannot be used is **skipped and counted**, with one warning line
  printed when the folder is listed (count, reasons, first example), because one bad file
  among 200,000 should not stop a run:
    - not an image: the bytes are neither JPEG nor PNG (checked by magic number, so a
      PNG named .jpg is fine);
    - truncated: a JPEG without its end-of-image marker or a PNG without its IEND chunk
      in the last bytes (TensorFlow's decoder then fails on it or, with recovery, fills the
      missing rows with grey: a silently wrong image);
    - too small: the region the preprocessing keeps (CelebA: the face box; other
      datasets: the whole image) is smaller than the training size on some axis, so it
      would have to be upsampled (a blurry, silently wrong image);
    - (celeba only) not the 178x218 aligned-CelebA aspect ratio, so the face box would be
      in the wrong place.
  If every image is skipped, that is a `UserError` naming the first reason.
* Checks read only the header (size) and the last bytes of each file, ~20 us per file:
  a few seconds for the 202,599 CelebA images, done once per process and folder.
  Corruption in the middle of a file passes these checks; the pipeline drops such a file
  at decode time with a logged warning (tf.data `ignore_errors`).
"""

from __future__ import annotations

import collections
import functools
import os
import struct
import sys
from typing import Optional

from configs.errors import UserError
from data.celeba_box import CELEBA_BOX, CELEBA_GEOMETRY

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
TAIL_BYTES = 1024
# The CelebA aligned geometry (width / height = 178 / 218) and the tolerance on it.
CELEBA_ASPECT = CELEBA_GEOMETRY[1] / CELEBA_GEOMETRY[0]
CELEBA_ASPECT_TOLERANCE = 0.02
CELEBA_BOX_FRACTION = (CELEBA_BOX[2] / CELEBA_GEOMETRY[0], CELEBA_BOX[3] / CELEBA_GEOMETRY[1])  # box / image, per axis
SIZE_TOLERANCE = 1.0  # px: a box of 63.4 px for a 64 px target is rounding, not upsampling

ImageInfo = collections.namedtuple("ImageInfo", "format height width")


class BadImage(Exception):
    """Why one file cannot be used (a short reason)."""


# ---------------------------------------------------------------------------- headers
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(fh):
    """(height, width) from the first SOF marker; fh is positioned after SOI."""
    while True:
        byte = fh.read(1)
        while byte and byte != b"\xff":  # tolerate padding between segments
            byte = fh.read(1)
        while byte == b"\xff":
            byte = fh.read(1)
        if not byte:
            raise BadImage("truncated JPEG header")
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        if marker == 0xD9 or marker == 0xDA:
            raise BadImage("JPEG without a frame header")
        length_bytes = fh.read(2)
        if len(length_bytes) < 2:
            raise BadImage("truncated JPEG header")
        length = struct.unpack(">H", length_bytes)[0]
        if marker in _JPEG_SOF:
            data = fh.read(5)
            if len(data) < 5:
                raise BadImage("truncated JPEG header")
            _, height, width = struct.unpack(">BHH", data)
            return height, width
        fh.seek(length - 2, os.SEEK_CUR)


def image_info(path: str) -> ImageInfo:
    """Format and size from the header, after checking the file is complete. Raises BadImage."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            if head[:3] == b"\xff\xd8\xff":
                fh.seek(2)
                height, width = _jpeg_size(fh)
                fmt, end = "jpeg", b"\xff\xd9"
            elif head[:8] == b"\x89PNG\r\n\x1a\n":
                if len(head) < 24 or head[12:16] != b"IHDR":
                    raise BadImage("truncated PNG header")
                width, height = struct.unpack(">II", head[16:24])
                fmt, end = "png", b"IEND\xaeB`\x82"
            else:
                raise BadImage("not an image (neither JPEG nor PNG data)")
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - TAIL_BYTES))
            if end not in fh.read():
                raise BadImage(f"truncated {fmt.upper()} (no end marker)")
    except OSError as e:
        raise BadImage(f"unreadable ({e.strerror})") from None
    if height < 1 or width < 1:
        raise BadImage("image with zero size")
    return ImageInfo(fmt, height, width)


def check_usable(info: ImageInfo, kind: str, target_size) -> None:
    """Raise BadImage if preprocessing `kind` ("celeba" or "resize") would upsample or misplace."""
    th, tw = target_size
    if kind == "celeba":
        aspect = info.width / info.height
        if abs(aspect - CELEBA_ASPECT) > CELEBA_ASPECT_TOLERANCE:
            raise BadImage(f"{info.width}x{info.height} is not the 178x218 aligned-CelebA geometry")
        box_h, box_w = info.height * CELEBA_BOX_FRACTION[0], info.width * CELEBA_BOX_FRACTION[1]
        if box_h < th - SIZE_TOLERANCE or box_w < tw - SIZE_TOLERANCE:
            raise BadImage(
                f"too small: its CelebA face box is {box_w:.0f}x{box_h:.0f} px, smaller than "
                f"the {tw}x{th} training size (use full-resolution img_align_celeba or a smaller --size)"
            )
    else:
        if info.height < th or info.width < tw:
            raise BadImage(f"too small: {info.width}x{info.height} is smaller than the {tw}x{th} training size")


# ---------------------------------------------------------------------------- listing
def find_image_files(data_dir: str):
    """(sorted image paths, number of other files) under data_dir, recursively. UserError if none."""
    if not os.path.exists(data_dir):
        raise UserError(f"data folder not found: {data_dir} (check --data_dir)")
    if not os.path.isdir(data_dir):
        raise UserError(f"--data_dir must be a folder of images, got the file {data_dir}")
    paths, others = [], 0
    for root, dirs, names in os.walk(data_dir, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if name.startswith("."):
                continue
            if name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(root, name))
            else:
                others += 1
    if not paths:
        what = f" (it holds {others} other file(s))" if others else " (it is empty)"
        raise UserError(f"no .jpg/.jpeg/.png images in {data_dir}{what}")
    paths.sort()
    return paths, others


ScanReport = collections.namedtuple("ScanReport", "paths skipped ignored")


def scan_folder(data_dir: str, kind: str, target_size) -> ScanReport:
    """Validate every image file of data_dir; `skipped` is a list of (path, reason)."""
    candidates, ignored = find_image_files(data_dir)
    good, skipped = [], []
    for path in candidates:
        try:
            check_usable(image_info(path), kind, target_size)
        except BadImage as e:
            skipped.append((path, str(e)))
        else:
            good.append(path)
    return ScanReport(good, skipped, ignored)


def describe_skips(report: ScanReport, data_dir: str) -> Optional[str]:
    if not report.skipped and not report.ignored:
        return None
    parts = []
    if report.skipped:
        reasons = collections.Counter(reason.split(":")[0].split(" (")[0] for _, reason in report.skipped)
        first_path, first_reason = report.skipped[0]
        parts.append(
            f"skipped {len(report.skipped)} of {len(report.skipped) + len(report.paths)} image files ("
            + ", ".join(f"{n} {r}" for r, n in reasons.most_common())
            + f"; e.g. {os.path.relpath(first_path, data_dir)}: {first_reason})"
        )
    if report.ignored:
        parts.append(f"ignored {report.ignored} non-image file(s)")
    return f"data: {data_dir}: " + "; ".join(parts)


@functools.lru_cache(maxsize=16)
def _cached_scan(data_dir: str, mtime_ns: int, kind: str, target_size: tuple):
    report = scan_folder(data_dir, kind, target_size)
    message = describe_skips(report, data_dir)
    if not report.paths:
        first_path, first_reason = report.skipped[0]
        raise UserError(
            f"no usable image in {data_dir}: all {len(report.skipped)} image file(s) rejected, "
            f"e.g. {os.path.basename(first_path)}: {first_reason}"
        )
    if message:
        print(message, file=sys.stderr, flush=True)
    return tuple(report.paths), len(report.skipped)


def list_valid_images(data_dir: str, kind: str = "resize", target_size=(1, 1)) -> list:
    """Sorted usable image paths under data_dir; prints one line if any file was skipped.

    Cached per process on (folder, its modification time, kind, size), so building the
    training stream and the full-image stream lists a big folder once.
    """
    data_dir = os.path.abspath(os.path.expanduser(str(data_dir)))
    try:
        mtime = os.stat(data_dir).st_mtime_ns
    except OSError:
        mtime = 0
    paths, _ = _cached_scan(data_dir, mtime, kind, tuple(int(s) for s in target_size))
    return list(paths)
