"""bench/gpu_check.py on a machine without a GPU: the tiny CPU path writes its JSON report,
a spent budget skips parts with a note, bad flags are user errors."""

import json

import pytest
from helpers import load_bench

from configs import UserError

gpu_check = load_bench("gpu_check")


def test_cpu_path_writes_every_part(tmp_path, request):
    from fid import weights

    if weights.find_wheel_model() is not None:  # this worker's one Inception network (tests/conftest.py)
        request.getfixturevalue("shared_inception")
    out = tmp_path / "gpu_check.json"
    report = gpu_check.main(["--minutes", "10", "--out", str(out), "--variants", "fp32"])
    assert json.loads(out.read_text()) == report
    assert report["gpu_found"] is False and report["gpus"] == []
    assert report["note"].startswith("no GPU found") and "requirements-gpu.txt" in report["note"]
    assert report["devices"].startswith("CPU only (") and report["tensorflow"].startswith("2.")
    assert report["config"] == "tiny" and report["batch_size"] == 4
    fp32 = report["train"]["fp32"]
    assert (fp32["mixed_precision"], fp32["jit_compile"]) == ("none", False)
    assert fp32["iters_timed"] == 3 and fp32["first_call_s"] > 0
    assert fp32["its"] == pytest.approx(1 / fp32["iter_s_median"])
    assert fp32["images_per_s"] == pytest.approx(4 * fp32["its"])
    assert fp32["peak_gpu_memory_mb"] is None  # no allocator counter on a CPU
    assert "dtype policy float32 | XLA off" in fp32["report"]
    highres = report["highres"]  # tiny: 4x4 micro patches, a 16x16 grid makes 64x64
    assert (highres["size"], highres["grid"], highres["patches"]) == ([64, 64], [16, 16], 256)
    assert highres["patches_per_s"] == pytest.approx(256 / highres["seconds"])
    fid = report["fid"]
    if "skipped" in fid:  # the FID weights are not installed
        assert fid["skipped"].startswith("FID network unavailable")
    else:
        assert fid["images"] == fid["requested_images"] == 2
        assert fid["images_per_s"] == pytest.approx(2 / fid["seconds"])
    assert report["elapsed_s"] > 0 and report["peak_rss_mb"] > 0


def test_spent_budget_skips_the_parts_with_a_note(tmp_path):
    out = tmp_path / "g.json"
    report = gpu_check.main(["--minutes", "1e-6", "--out", str(out)])
    assert json.loads(out.read_text()) == report
    assert set(report["train"]) == {"fp32", "mixed_bfloat16", "xla"}
    for part in [*report["train"].values(), report["fid"]]:
        assert part["skipped"].startswith("skipped: the 1e-06-minute budget was spent before"), part
    assert report["highres"]["skipped"].startswith("no trained fp32 generator")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--minutes", "0"], "--minutes=0 must be positive"),
        (["--out", "/nonexistent/folder/g.json"], "does not exist"),
        (["--variants", "fp16"], "--variants fp16: this plan has fp32, mixed_bfloat16, xla"),
    ],
)
def test_bad_flags_are_user_errors(argv, message, tmp_path):
    if "--out" not in argv:
        argv = [*argv, "--out", str(tmp_path / "g.json")]
    with pytest.raises(UserError, match=message.replace(".", r"\.")):
        gpu_check.main(argv)
    assert not (tmp_path / "g.json").exists()
