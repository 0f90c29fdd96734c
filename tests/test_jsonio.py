"""jsonio: orjson's speed, the standard library's acceptance."""

from __future__ import annotations

import numpy as np
import pytest

from proxy import jsonio


def test_compact_utf8_output() -> None:
    assert jsonio.dumps({"a": [1, 2.5], "b": "é"}) == '{"a":[1,2.5],"b":"é"}'.encode()


def test_numpy_scalars_are_numbers() -> None:
    assert jsonio.loads(jsonio.dumps({"p": np.float32(0.25), "n": np.int64(3), "x": np.float64(1.5)})) == {
        "p": 0.25,
        "n": 3,
        "x": 1.5,
    }


def test_lone_surrogates_parse_and_write_like_the_standard_library() -> None:
    value = jsonio.loads(b'{"content": "bad \\ud800 half"}')
    assert value == {"content": "bad \ud800 half"}
    assert jsonio.dumps(value) == b'{"content":"bad \\ud800 half"}'


@pytest.mark.parametrize("raw", [b'{"t": NaN}', b"[Infinity]", b"{", b"\xff\xfe", b""])
def test_what_is_not_json_is_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(raw)


def test_unknown_objects_are_written_as_text() -> None:
    class Thing:
        def __str__(self) -> str:
            return "thing"

    assert jsonio.dumps_text({"t": Thing()}) == '{"t":"thing"}'
