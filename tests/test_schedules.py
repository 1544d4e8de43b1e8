"""The learning-rate schedules, at exact steps: each is a plain function of the step and
the run's progress, so a resumed run continues the same curve."""
import pytest

from textrnn import TrainConfig
from textrnn.training import cosine, linear_warmup, lr_factor, slanted_triangular
from textrnn.training.schedules import on_plateau
from textrnn.training.ulmfit import unfreeze_ramp


def test_warmup_rises_linearly_to_one():
    assert [linear_warmup(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert linear_warmup(0, 0) == 1.0


def test_cosine_runs_from_one_to_the_final_ratio():
    assert cosine(0.0, 0.05) == 1.0
    assert cosine(0.5, 0.05) == pytest.approx(0.525)
    assert cosine(1.0, 0.05) == pytest.approx(0.05) and cosine(1.7, 0.05) == pytest.approx(0.05)


def test_slanted_triangular_peaks_at_the_cut_and_ends_at_one_over_ratio():
    assert slanted_triangular(0.0) == pytest.approx(1 / 32)
    assert slanted_triangular(0.05) == pytest.approx((1 + 0.5 * 31) / 32)
    assert slanted_triangular(0.1) == 1.0
    assert slanted_triangular(0.55) == pytest.approx((1 + 0.5 * 31) / 32)
    assert slanted_triangular(1.0) == pytest.approx(1 / 32)


@pytest.mark.parametrize("schedule,step,progress,scale,expected", [
    ("cosine", 0, 0.0, 1.0, 0.01),                     # warmup 1/100 of the peak
    ("cosine", 99, 0.5, 1.0, 0.525),                   # warm, half way down the cosine
    ("constant", 49, 0.9, 1.0, 0.5),                   # only the warmup
    ("constant", 500, 0.9, 1.0, 1.0),
    ("plateau", 500, 0.9, 0.25, 0.25),                 # two halvings so far
    ("stlr", 0, 0.1, 1.0, 1.0),                        # stlr ignores warmup and scale
])
def test_lr_factor_at_exact_steps(schedule, step, progress, scale, expected):
    cfg = TrainConfig(schedule=schedule)  # warmup 100 steps, cosine down to 0.05
    factor = lr_factor(cfg.schedule, step, progress, cfg.warmup_steps, cfg.final_lr_ratio, scale)
    assert factor == pytest.approx(expected)


@pytest.mark.parametrize("epoch,expected", [(0, 1.0), (3, 1.0), (4, 0.9), (6, 0.729)])
def test_decay_holds_three_epochs_then_falls_a_tenth_each(epoch, expected):
    assert lr_factor("decay", 500, 0.5, 100, 0.05, 1.0, epoch) == pytest.approx(expected)
    assert lr_factor("decay", 49, 0.5, 100, 0.05, 1.0, epoch) == pytest.approx(expected / 2)


def test_plateau_halves_after_two_evaluations_without_gain():
    plateau = {"scale": 1.0, "bad_evals": 0}
    scales = []
    for improved in (False, True, False, False, False, False):
        on_plateau(plateau, improved)
        scales.append(plateau["scale"])
    assert scales == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]


def test_an_unfrozen_group_ramps_over_its_warmup_steps():
    assert unfreeze_ramp(None, 7) == 1.0  # never frozen, or no ramp
    assert [unfreeze_ramp([10, 4], s) for s in range(10, 15)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    assert unfreeze_ramp([10, 0], 10) == 1.0


def test_a_run_with_no_limit_trains_for_the_stated_number_of_epochs():
    from textrnn.training.config import DEFAULT_EPOCHS

    assert TrainConfig().epochs == DEFAULT_EPOCHS and f"{DEFAULT_EPOCHS})" in \
        TrainConfig.__dataclass_fields__["epochs"].metadata["help"]
    assert TrainConfig(time_budget=60).epochs == 0  # a budget alone is a limit
    assert TrainConfig(max_steps=5).epochs == 0
