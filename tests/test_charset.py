import numpy as np
import pytest

from captcha_ocr.core.charset import DEFAULT_CHARS, Charset
from captcha_ocr.core.errors import UserError


def test_default_charset_has_62_characters_and_pad():
    cs = Charset()
    assert len(DEFAULT_CHARS) == 62
    assert cs.num_classes == 63
    assert cs.pad_index == 62
    assert cs.alphabet[-1] == "_"


def test_round_trip_and_padding():
    cs = Charset(max_length=5, min_length=1)
    for text in ["a", "Zz9", "AbC12"]:
        enc = cs.encode(text)
        assert enc.dtype == np.int32 and enc.shape == (5,)
        assert list(enc[len(text):]) == [cs.pad_index] * (5 - len(text))
        assert cs.decode(enc) == text
    assert list(cs.encode("0a")[:2]) == [0, 36]


def test_decode_strips_pad_anywhere():
    cs = Charset()
    assert cs.decode([10, 62, 11, 62]) == "AB"
    assert cs.decode_batch(np.array([[0, 1, 2, 3], [62, 62, 62, 62]])) == ["0123", ""]


def test_digits_charset():
    cs = Charset(chars="0123456789", max_length=5, min_length=5)
    assert cs.num_classes == 11
    assert cs.decode(cs.encode("90210")) == "90210"


@pytest.mark.parametrize("text, fragment", [
    ("ab-c", "character '-' outside the charset"),
    ("abcde", "has 5 characters; allowed is 1 to 4"),
    ("", "has 0 characters"),
    ("ab_c", "character '_'"),
])
def test_bad_labels_name_the_problem(text, fragment):
    with pytest.raises(UserError, match=None) as err:
        Charset().encode(text)
    assert fragment in str(err.value)


def test_bad_charsets():
    with pytest.raises(UserError, match="repeated"):
        Charset(chars="abca")
    with pytest.raises(UserError, match="pad"):
        Charset(chars="ab_", pad="_")
    with pytest.raises(UserError, match="min_length"):
        Charset(min_length=5, max_length=4)


def test_covering_keeps_the_charset_order_and_appends_what_labels_add():
    from captcha_ocr.core.charset import covering

    # A model's characters keep their order (its output rows are copied by character); new ones follow,
    # default characters in the default order, others sorted.
    assert covering(["ab", "+c9"], "cba", (4, 4)) == ("cba9+", 2, 4)
    assert covering(["abcdefgh"], "abcdefgh", (4, 6)) == ("abcdefgh", 4, 8)
    assert covering(["b2", "a1b", "Z"]) == ("12Zab", 1, 3)  # no charset: the labels' own, in default order
    with pytest.raises(UserError, match="pad character '_'"):
        covering(["a_b"], "ab")
    with pytest.raises(UserError, match="pad character '~'"):
        covering(["a~b"], "ab", pad="~")
