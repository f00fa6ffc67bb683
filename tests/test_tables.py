"""captcha_ocr.core.tables: the Markdown table helper."""

from captcha_ocr.core.tables import markdown_table


def test_a_padded_table_with_escaped_pipes_and_alignment():
    text = markdown_table(["name", "n"], [["a|b", 1], ["long name", 12345]], align="lr")
    assert text.splitlines() == [
        "| name      |     n |",
        "| --------- | ----: |",
        "| a\\|b      |     1 |",
        "| long name | 12345 |",
    ]


def test_short_columns_still_have_a_valid_separator():
    assert markdown_table(["a"], [["x"]]).splitlines()[1] == "| --- |"
