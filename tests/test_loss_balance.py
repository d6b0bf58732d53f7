"""bench/loss_balance.py: G's gradient norms per term on tiny untrained runs."""

import pytest
from helpers import load_bench, tiny, untrained_run

from configs.errors import exit_on_user_error

loss_balance = load_bench("loss_balance")


def test_spatial_gradient_scales_with_its_weight_and_vanishes_without_it(tmp_path):
    # Same seed, same initial weights: only coord_loss_w differs, so |dG spatial| scales with it exactly
    # and the adversarial gradient does not change.
    results = {}
    for weight in (100, 50, 0):
        untrained_run(tmp_path / str(weight), tiny(loss={"coord_loss_w": weight}))
        results[weight] = loss_balance.loss_balance(tmp_path / str(weight), batches=1)
    a, b, none = results[100], results[50], results[0]
    assert a["spatial"] == pytest.approx(2 * b["spatial"], rel=1e-4)
    assert a["adv"] == pytest.approx(b["adv"], rel=1e-5) and a["adv"] == pytest.approx(none["adv"], rel=1e-5)
    assert a["ratio"] == pytest.approx(a["spatial"] / a["adv"])
    assert none["spatial"] == 0 and none["ratio"] == 0
    assert a["step"] == 7 and a["d_input_grad"] > 0 and a["z_spread"] > 0


def test_bad_batches_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        exit_on_user_error(lambda: loss_balance.main([str(tmp_path), "--batches", "0"]))
    assert exit_info.value.code == 1
    assert "--batches must be >= 1" in capsys.readouterr().err
