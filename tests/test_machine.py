"""captcha_ocr.core.machine: the precision `train.precision: auto` picks for a CPU or GPU, and the machine record."""

import pytest

from captcha_ocr.core.errors import UserError
from captcha_ocr.core.machine import BF16_CPU_FLAGS, bfloat16_aborts, choose_precision, cpu_flags

AVX2_ONLY = {"fpu", "sse4_2", "avx", "avx2", "fma"}  # an EPYC before Zen 4, most laptops
ZEN4 = AVX2_ONLY | {"avx512f", "avx512_bf16"}
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "amx_bf16", "amx_tile"}


def test_auto_picks_float32_on_a_cpu_without_native_bfloat16():
    choice = choose_precision("auto", flags=AVX2_ONLY, isa_cap="")
    assert choice.precision == "float32"
    assert not choice.warning
    assert "auto chose float32" in choice.reason and "no avx512_bf16/amx_bf16" in choice.reason
    assert "emulated" in choice.reason


@pytest.mark.parametrize("flags", [ZEN4, SAPPHIRE_RAPIDS, AVX2_ONLY | {"avx512_bf16"}, AVX2_ONLY | {"amx_bf16"}])
def test_auto_picks_bfloat16_with_either_flag(flags):
    choice = choose_precision("auto", flags=flags, isa_cap="")
    assert choice.precision == "mixed_bfloat16"
    assert "auto chose mixed_bfloat16" in choice.reason
    assert any(flag in choice.reason for flag in BF16_CPU_FLAGS)


@pytest.mark.parametrize("cap", ["AVX2", "avx2", "AVX512_CORE", "AVX512_CORE_VNNI"])
def test_auto_picks_float32_where_onednn_is_capped_below_bfloat16(cap):
    choice = choose_precision("auto", flags=ZEN4, isa_cap=cap)
    assert choice.precision == "float32"
    assert f"ONEDNN_MAX_CPU_ISA={cap}" in choice.reason


@pytest.mark.parametrize("cap", ["AVX512_CORE_BF16", "AVX512_CORE_AMX", "ALL", ""])
def test_auto_keeps_bfloat16_under_a_cap_that_allows_it(cap):
    assert choose_precision("auto", flags=ZEN4, isa_cap=cap).precision == "mixed_bfloat16"


def test_the_environment_cap_is_read_when_none_is_given(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert choose_precision("auto", flags=ZEN4).precision == "float32"
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    assert choose_precision("auto", flags=ZEN4).precision == "mixed_bfloat16"


def test_an_explicit_bfloat16_without_native_support_trains_but_warns():
    choice = choose_precision("mixed_bfloat16", flags=AVX2_ONLY, isa_cap="")
    assert choice.precision == "mixed_bfloat16"
    assert choice.warning
    assert "5x slower" in choice.reason and "train.precision: auto" in choice.reason
    assert not choose_precision("mixed_bfloat16", flags=ZEN4, isa_cap="").warning


@pytest.mark.parametrize("cap", ["AVX2", "avx2", "AVX2_VNNI_2", "SSE41"])
def test_an_explicit_bfloat16_that_cannot_run_is_a_user_error(cap):
    """On a CPU with AVX-512, TensorFlow sends bfloat16 to oneDNN, which has no bfloat16 kernels below
    AVX512_CORE: the first convolution would abort (measured), so the choice is refused in one line."""
    for flags in (ZEN4, SAPPHIRE_RAPIDS, AVX2_ONLY | {"avx512f"}):
        assert bfloat16_aborts(flags, cap)
        with pytest.raises(UserError, match=f"mixed_bfloat16 cannot run with ONEDNN_MAX_CPU_ISA={cap} .*"
                                            "set train.precision: auto or float32"):
            choose_precision("mixed_bfloat16", flags=flags, isa_cap=cap)
        auto = choose_precision("auto", flags=flags, isa_cap=cap)  # auto still runs, and says why
        assert auto.precision == "float32" and "bfloat16 cannot run under that cap here" in auto.reason
    # Without AVX-512 TensorFlow's own kernels emulate it (measured 5x slower): it trains, with the warning.
    assert not bfloat16_aborts(AVX2_ONLY, cap)
    assert choose_precision("mixed_bfloat16", flags=AVX2_ONLY, isa_cap=cap).warning
    # Capped at AVX512_CORE oneDNN emulates it, and a GPU computes it itself.
    assert not bfloat16_aborts(ZEN4, "AVX512_CORE")
    assert choose_precision("mixed_bfloat16", flags=ZEN4, isa_cap=cap, gpu_capabilities=[(8, 0)]).precision == (
        "mixed_bfloat16")


def test_explicit_float32_is_kept_everywhere():
    for flags in (AVX2_ONLY, ZEN4):
        choice = choose_precision("float32", flags=flags, isa_cap="")
        assert choice == ("float32", "train.precision: float32", False)


@pytest.mark.parametrize("capabilities, expected", [
    ([(8, 0)], "mixed_bfloat16"), ([(9, 0), (8, 6)], "mixed_bfloat16"),
    ([(7, 5)], "float32"), ([(8, 0), (7, 0)], "float32"),
])
def test_with_gpus_their_compute_capability_decides(capabilities, expected):
    # The CPU's flags do not count when the GPUs compute.
    for flags in (AVX2_ONLY, ZEN4):
        assert choose_precision("auto", flags=flags, isa_cap="", gpu_capabilities=capabilities).precision == expected


def test_cpu_flags_reads_this_cpu():
    flags = cpu_flags()
    try:
        text = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo here")
    assert flags and all(flag in text for flag in flags)
