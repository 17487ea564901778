"""The large-p figure: registered, both routes used, Theorem 1 approached; and the start norm without p-vectors."""
import numpy as np
import pytest

import linmeta as lm
from linmeta import figures
from linmeta._sim import gram_sampler as gs
from linmeta.figures import large_p


@pytest.mark.statistical   # a long check: the figure computed in full
def test_large_p_figure_is_registered_and_spans_both_routes():
    assert "large_p" in figures.FIGURES
    table = large_p.compute_large_p(seed=0, runs_scale=0.02, progress=False)   # 400 runs per p
    sim = table.set_index("p")
    assert list(sim.index) == list(large_p.P_GRID)
    assert set(sim["route"]) == {"direct", "sufficient statistics"}
    assert sim.loc[60, "route"] == "direct" and sim.loc[10**8, "route"] == "sufficient statistics"
    lead = sim["theory_leading"]
    # the relative gap to Theorem 1 is about -12 % at p = 60 and within the noise (2 % at 400 runs) at p = 1e8
    gap = lead / sim["mean"] - 1
    z = gap.loc[10**8] * sim.loc[10**8, "mean"] / sim.loc[10**8, "stderr"]
    assert gap.loc[60] < -0.05 and abs(z) < 4
    # the finite-size theory at every p, finite, and within 10/p of Theorem 1 from p = 1e5 on (about 9/p)
    fin = table.set_index("p")["theory_finite"]
    assert list(fin.index) == list(large_p.P_GRID) and np.all(np.isfinite(fin))
    far = [p for p in large_p.P_GRID if p >= 100_000]
    assert np.all(np.abs(fin.loc[far] / lead.loc[far] - 1) < 10 / np.array(far, dtype=float))
    assert (table["quantity"] == "distance").all()


def test_start_norm_reads_the_vectors_block_by_block():
    p = 3_000_001
    w0 = np.zeros(p)
    w0[-1] = 3.0
    prob = lm.presets.FIG2.replace(p=p, w0=w0, omega0=np.r_[4.0, np.zeros(p - 1)])
    assert gs.start_norm(prob, block=1 << 16) == 5.0
    assert gs.start_norm(lm.presets.FIG2.replace(p=p)) == 0.0
    np.testing.assert_array_equal(gs.start_vector(prob)[:2], [5.0, 0.0])
