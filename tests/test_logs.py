"""Operator logs never carry secrets, whatever form a URL takes and whoever formats the line."""

from __future__ import annotations

import io
import logging

from iconodex.logs import MaskingFilter, mask


def test_credentials_are_masked_also_inside_a_percent_encoded_url():
    line = ('"GET /search?url=https%3A%2F%2Falice%3Ahunter2%40example.org%2Fa.jpg%3Ftoken%3DSECRET&q=cat" '
            "https://bob:pw1@example.org/x?API_KEY=SECRET2 Authorization: Bearer abc.def")
    masked = mask(line)
    for secret in ("hunter2", "SECRET", "pw1", "SECRET2", "abc.def"):
        assert secret not in masked
    assert "example.org%2Fa.jpg" in masked and "q=cat" in masked  # the rest stays readable


def test_plain_urls_and_author_fields_are_left_alone():
    line = "https://example.org/a@b.jpg?author=Bob&page=2"
    assert mask(line) == line


def _logged(*args: object, exc_info: bool = False) -> str:
    """What a plain handler carrying ``MaskingFilter`` (as uvicorn's handlers do in the server) writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(MaskingFilter())
    logger = logging.getLogger("test.masking")
    logger.addHandler(handler)
    try:
        logger.error(*args, exc_info=exc_info)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_a_formatter_that_reads_args_sees_them_masked_with_their_types():
    line = _logged('%s - "%s %s" %d', "127.0.0.1:5", "GET", "/x?url=https://a:hunter2@h/&key=K1", 200)
    assert line.strip() == '127.0.0.1:5 - "GET /x?url=https://***@h/&key=***" 200'


def test_a_logged_traceback_is_masked():
    try:
        raise ValueError("could not open https://alice:hunter2@example.org/?token=T0KEN")
    except ValueError:
        text = _logged("failed", exc_info=True)
    assert "failed" in text and "ValueError: could not open https://***@example.org/?token=***" in text
    assert "hunter2" not in text and "T0KEN" not in text
