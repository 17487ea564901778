"""The theory front door: one decision of "value or the documented reason", used by CLI, sweeps and figures."""
import numpy as np
import pytest

import linmeta as lm
from linmeta import cli
from linmeta.figures import theory_or_note
from linmeta.sweeping import theory_values

FOMAML = lm.presets.FIG3.replace(algorithm="fomaml")
ERM = lm.presets.FIG3.replace(algorithm="erm")
NSTEP = lm.presets.FIG3.replace(n_steps=2)


def test_value_is_the_theory_function():
    got = lm.theory.value_or_reason("test_loss", lm.presets.FIG3, approximation="leading")
    assert got == (lm.theory.test_loss(lm.presets.FIG3), "", True) and got.available
    assert lm.theory.value_or_reason("optimal_alpha_r", ERM).value == lm.theory.optimal_alpha_r(ERM)


@pytest.mark.parametrize("quantity, prob, start", [
    ("test_loss", FOMAML, "no closed-form theory for algorithm='fomaml'"),
    ("optimal_alpha_t", NSTEP, "no closed-form optimal_alpha_t for algorithm='maml', n_steps=2"),
    ("optimal_alpha_r", FOMAML, "no closed-form optimal_alpha_r for algorithm='fomaml'"),
])
def test_no_closed_form_gives_the_theory_s_own_reason(quantity, prob, start):
    with pytest.raises(NotImplementedError) as info:
        getattr(lm.theory, quantity)(prob)
    got = lm.theory.value_or_reason(quantity, prob)
    assert got.value is None and got.defined and got.reason.startswith(start)
    assert got.reason == " ".join(str(info.value).split())


def test_quantities_not_defined_for_the_problem():
    got = lm.theory.value_or_reason("optimal_alpha_t", ERM)
    assert got.value is None and not got.defined and "reads no alpha_t" in got.reason
    got = lm.theory.value_or_reason("test_loss", lm.presets.FIG2, form="printed")
    assert got.value is None and not got.defined and "underparameterized regime only" in got.reason


def test_overflow_raises_unless_asked_for_as_a_reason():
    with pytest.raises(lm.NonFiniteResultError):
        lm.theory.value_or_reason("test_loss", lm.presets.FIG2, alpha_t=1e200)
    got = lm.theory.value_or_reason("test_loss", lm.presets.FIG2, not_finite="reason", alpha_t=1e200)
    assert got.value is None and got.defined and "not a finite number" in got.reason


def test_every_other_error_raises(monkeypatch):
    with pytest.raises(ValueError, match="quantity must be one of"):
        lm.theory.value_or_reason("loss", lm.presets.FIG2)
    with pytest.raises(ValueError, match="not_finite must be one of"):
        lm.theory.value_or_reason("test_loss", lm.presets.FIG2, not_finite="nan")
    with pytest.raises(ValueError, match="approximation"):
        lm.theory.value_or_reason("test_loss", lm.presets.FIG2, approximation="exact")

    def broken(*args, **kwargs):
        raise ValueError("bad domain")

    monkeypatch.setattr(lm.theory, "test_loss", broken)
    for call in (lambda: lm.theory.value_or_reason("test_loss", lm.presets.FIG2, not_finite="reason"),
                 lambda: cli._theory_dict(lm.presets.FIG2), lambda: theory_values(lm.presets.FIG2),
                 lambda: theory_or_note("test_loss", [], lm.presets.FIG2)):
        with pytest.raises(ValueError, match="bad domain"):
            call()


@pytest.mark.parametrize("prob", [lm.presets.FIG2, lm.presets.FIG3, FOMAML, ERM, NSTEP])
def test_the_three_callers_agree_with_the_front_door(prob):
    got = lm.theory.value_or_reason("test_loss", prob)
    th, notes = cli._theory_dict(prob)
    row = theory_values(prob)
    figure_notes = []
    drawn = theory_or_note("test_loss", figure_notes, prob)
    if got.available:
        assert th["test_loss"] == row["theory_leading"] == drawn == got.value
    else:
        assert th["test_loss"] is None and np.isnan(row["theory_leading"]) and drawn is None
        assert f"test_loss: {got.reason}" in notes and row["note"] == f"theory_leading: {got.reason}"
        assert figure_notes == [f"linmeta.theory.test_loss(): {got.reason}; drawn without it"]
    for rate in ("alpha_t", "alpha_r"):
        opt = lm.theory.value_or_reason(f"optimal_{rate}", prob)
        assert th[f"optimal_{rate}"] == opt.value
        assert (f"optimal_{rate}: {opt.reason}" in notes) == (not opt.available)


@pytest.mark.filterwarnings("ignore::linmeta.moments.InfiniteMomentWarning")   # near the threshold: not the point
@pytest.mark.parametrize("prob, words", [
    (FOMAML, "covers one-step MAML only; got algorithm='fomaml'"),
    (NSTEP, "covers one-step MAML only; got algorithm='maml', n_steps=2"),
    (lm.presets.FIG3.replace(m=2, n_v=16), "needs n_v * m >= p + 4"),     # k = 32 < p + 4 = 34
])
def test_finite_size_theory_outside_its_coverage_is_not_defined(prob, words):
    got = lm.theory.value_or_reason("test_loss", prob, approximation="finite")
    assert got.value is None and not got.defined and words in got.reason
    th, notes = cli._theory_dict(prob)                  # the command line shows the rest, without the note
    assert th["test_loss_finite"] is None and not [n for n in notes if n.startswith("test_loss_finite")]
