from __future__ import annotations

import pickle

import pytest

from activity_toolkit.client import Secret, VoucherifyClient
from activity_toolkit.client._secret import MASK, redact

SECRET = "sk_live_abcdef123456"


def test_secret_never_shows() -> None:
    s = Secret(SECRET)
    for text in (repr(s), str(s), f"{s}", f"{s!r}", f"{s}", format(s, ">30")):
        assert SECRET not in text
    assert s.reveal() == SECRET
    assert Secret(s) == s
    assert hash(Secret(SECRET)) == hash(s)


def test_secret_is_not_a_str_and_cannot_be_pickled_or_changed() -> None:
    s = Secret(SECRET)
    assert not isinstance(s, str)
    with pytest.raises(TypeError):
        pickle.dumps(s)
    with pytest.raises(AttributeError):
        s._value = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Secret(123)  # type: ignore[arg-type]


def test_redact_replaces_every_secret() -> None:
    text = f"token {SECRET} and bearer tok_9999 and again {SECRET}"
    out = redact(text, [Secret(SECRET), "tok_9999", None])
    assert SECRET not in out
    assert "tok_9999" not in out
    assert out.count(MASK) == 3


def test_client_repr_masks_key_and_token() -> None:
    client = VoucherifyClient("app", SECRET, bearer_token="bearer_zzz_123")
    text = repr(client)
    assert SECRET not in text
    assert "bearer_zzz_123" not in text
    assert "app" in text
    assert "Secret('********')" in text
