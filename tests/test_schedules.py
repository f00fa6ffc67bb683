"""captcha_ocr.model.schedules: Keras's CosineDecay gives the curves of the package's earlier own schedule."""

import numpy as np
import pytest

from captcha_ocr.model.schedules import WarmupSchedule, make_schedule


@pytest.mark.parametrize("kind", ["constant", "cosine", "onecycle"])
@pytest.mark.parametrize("warmup", [0, 10])
def test_same_learning_rates_as_the_earlier_schedule(kind, warmup):
    new = make_schedule(kind, 1e-3, 100, warmup)
    old = WarmupSchedule(1e-3, 100, warmup, kind)
    steps = range(0, 120, 3)
    got = [new if isinstance(new, float) else float(new(s)) for s in steps]
    np.testing.assert_allclose(got, [float(old(s)) for s in steps], rtol=1e-6, atol=1e-10)


def test_shapes_of_the_curves():
    cosine = make_schedule("cosine", 1.0, 100, 10)
    assert float(cosine(0)) == 0.0 and float(cosine(10)) == pytest.approx(1.0)
    assert float(cosine(55)) == pytest.approx(0.5, abs=1e-6) and float(cosine(100)) == pytest.approx(0.0, abs=1e-6)
    onecycle = make_schedule("onecycle", 1.0, 100, 0)
    assert float(onecycle(0)) == pytest.approx(1 / 25) and float(onecycle(30)) == pytest.approx(1.0)
    assert float(onecycle(100)) == pytest.approx(1e-4)
    assert make_schedule("constant", 0.5, 100, 0) == 0.5
    assert float(make_schedule("constant", 0.5, 100, 4)(50)) == pytest.approx(0.5)
