"""engine.limits: every user-chosen size is bounded in one place and checked on the server."""

from __future__ import annotations

import pytest

from engine.limits import (
    BOUNDS,
    MAX_IMAGE_PIXELS,
    MAX_KERNEL_ABS,
    MAX_UPLOAD_BYTES,
    LimitError,
    check,
)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_bounds_are_sane(name):
    bound = BOUNDS[name]
    assert isinstance(bound.low, int) and isinstance(bound.high, int)
    assert bound.low <= bound.high


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_check_accepts_the_whole_range(name):
    bound = BOUNDS[name]
    for value in {bound.low, bound.high, (bound.low + bound.high) // 2}:
        assert check(name, value) == value


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_check_rejects_just_outside(name):
    bound = BOUNDS[name]
    for value in (bound.low - 1, bound.high + 1, bound.high + 10**9, -(10**9)):
        with pytest.raises(LimitError) as e:
            check(name, value)
        err = e.value
        assert err.code == "limit"
        assert err.params == {"name": name, "value": value, "low": bound.low, "high": bound.high}
        assert str(bound.low) in str(err) and str(bound.high) in str(err)


@pytest.mark.parametrize("value", [True, False, 3.0, 2.5, "3", None, [3], float("nan"), float("inf")])
def test_check_rejects_non_integers(value):
    with pytest.raises(LimitError) as e:
        check("kernel_size", value)
    assert e.value.code == "limit"


def test_numpy_float_is_refused():
    # a float that happens to be whole is still not an integer size
    np = pytest.importorskip("numpy")
    with pytest.raises(LimitError):
        check("stride", np.float64(2))


def test_limit_error_is_a_value_error():
    assert issubclass(LimitError, ValueError)


def test_unknown_name_is_a_programming_error():
    with pytest.raises(KeyError):
        check("no_such_limit", 1)


def test_expected_bounds_for_the_cnn_pages():
    # the pages' controls rely on these
    assert BOUNDS["kernel_size"].low == 1 and BOUNDS["kernel_size"].high >= 5
    assert BOUNDS["stride"].low == 1 and BOUNDS["stride"].high >= 3
    assert BOUNDS["padding"].low == 0 and BOUNDS["padding"].high >= 2
    assert BOUNDS["num_kernels"].high >= 32
    assert BOUNDS["pool_size"].low >= 1 and BOUNDS["pool_size"].high >= 4
    assert BOUNDS["shift"].low <= -2 and BOUNDS["shift"].high >= 2


def test_upload_limits():
    assert MAX_UPLOAD_BYTES == 5 * 1024 * 1024
    assert 28 * 28 < 1024 * 1024 <= MAX_IMAGE_PIXELS <= 89_478_485  # below Pillow's own guard
    assert MAX_KERNEL_ABS > 0
