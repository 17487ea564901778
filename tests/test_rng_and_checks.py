"""Direct tests of the random streams and of input validation."""
import numpy as np
import pytest

from linmeta._sim.rng import TEST, TEST_PROJECTED, TRAIN, check_seed, run_rng
from linmeta._validation import check_int, check_real, check_vector


# ----------------------------------------------------------------------------- streams
def test_run_rng_is_the_spawned_child_stream():
    # SeedSequence(s, spawn_key=(i, j)) must be the j-th child of the i-th child of SeedSequence(s):
    # that identity is what makes run i independent of chunking and executors.
    child = np.random.SeedSequence(7).spawn(4)[3].spawn(2)[1]
    expected = np.random.Generator(np.random.PCG64(child)).standard_normal(5)
    assert np.array_equal(run_rng(7, 3, 1).standard_normal(5), expected)


def test_streams_are_distinct_and_repeatable():
    draws = {key: run_rng(0, *key).standard_normal(8) for key in [(0, TRAIN), (0, TEST), (0, TEST_PROJECTED),
                                                                   (1, TRAIN)]}
    assert len({d.tobytes() for d in draws.values()}) == len(draws)
    assert np.array_equal(run_rng(0, 1, TRAIN).standard_normal(8), draws[(1, TRAIN)])
    assert not np.array_equal(run_rng(1, 0, TRAIN).standard_normal(8), draws[(0, TRAIN)])  # the seed matters
    assert (TRAIN, TEST, TEST_PROJECTED) == (0, 1, 2)  # part of the reproducibility contract


def test_run_rng_leaves_global_state_alone():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    run_rng(5, 0, 0).standard_normal(100)
    assert np.array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None, float("nan")])
def test_check_seed_refuses(bad):
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        check_seed(bad)


def test_check_seed_accepts_numpy_and_integral_floats():
    assert check_seed(np.int64(4)) == 4 and type(check_seed(np.int64(4))) is int
    assert check_seed(3.0) == 3


# ----------------------------------------------------------------------------- checks
@pytest.mark.parametrize("value, expected", [(3, 3), (np.int32(5), 5), (2.0, 2), (np.float64(7.0), 7)])
def test_check_int_accepts(value, expected):
    out = check_int(value, "p", min_val=1)
    assert out == expected and type(out) is int


@pytest.mark.parametrize("value", [0, -3, 2.5, float("inf"), float("nan"), True, np.bool_(True), "4", None, [1]])
def test_check_int_refuses_naming_parameter_range_and_value(value):
    with pytest.raises(ValueError) as err:
        check_int(value, "n_t", min_val=1)
    msg = str(err.value)
    assert msg.startswith("n_t must be an integer >= 1; got ")
    assert repr(value) in msg or str(value) in msg


def test_check_int_without_bound():
    assert check_int(-5, "x") == -5
    with pytest.raises(ValueError, match=r"^x must be an integer; got 0.5$"):
        check_int(0.5, "x")


@pytest.mark.parametrize("value, kw, expected", [(0.0, dict(min_val=0), 0.0), (np.float32(0.5), {}, 0.5),
                                                 (3, dict(min_val=0, strict=True), 3.0), (-2, {}, -2.0)])
def test_check_real_accepts(value, kw, expected):
    out = check_real(value, "sigma", **kw)
    assert out == expected and type(out) is float


@pytest.mark.parametrize("value, kw, message", [
    (float("nan"), dict(min_val=0), "sigma must be finite and >= 0; got nan"),
    (float("inf"), {}, "sigma must be finite; got inf"),
    (-0.1, dict(min_val=0), "sigma must be finite and >= 0; got -0.1"),
    (0.0, dict(min_val=0, strict=True), "sigma must be finite and > 0; got 0.0"),
    (True, {}, "sigma must be a finite real number; got True"),
    ("0.2", {}, "sigma must be a finite real number; got '0.2'"),
    (1 + 2j, {}, "sigma must be a finite real number; got (1+2j)"),
])
def test_check_real_refuses(value, kw, message):
    with pytest.raises(ValueError) as err:
        check_real(value, "sigma", **kw)
    assert str(err.value) == message


def test_check_vector_none_is_a_read_only_zero_vector():
    v = check_vector(None, "w0", 4)
    assert v.dtype == np.float64 and v.shape == (4,) and not v.any()
    with pytest.raises(ValueError):
        v[0] = 1.0


def test_check_vector_copies_and_freezes():
    src = np.arange(3.0)
    v = check_vector(src, "w0", 3)
    src[0] = 99.0
    assert v[0] == 0.0 and not v.flags.writeable


@pytest.mark.parametrize("value, pattern", [
    ([1.0, 2.0], r"w0 must be None or a real array of length p=3; got shape \(2,\)"),
    (np.zeros((3, 1)), r"w0 must be None or a real array of length p=3; got shape \(3, 1\)"),
    (["a", "b", "c"], r"w0 must be None or a real array of length p=3; got \['a', 'b', 'c'\]"),
    ([0.0, np.nan, np.inf], r"w0 must be finite; got non-finite entries at \[1, 2\]"),
])
def test_check_vector_refuses(value, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_vector(value, "w0", 3)
