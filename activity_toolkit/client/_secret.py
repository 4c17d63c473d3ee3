"""Secrets that never show: masked ``repr``/``str`` and text redaction."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["MASK", "Secret", "redact"]

MASK = "********"


class Secret:
    """A credential whose ``repr``, ``str`` and format show only a mask.

    Call :meth:`reveal` to get the value, which only the code that puts it on the
    wire should do. A ``Secret`` cannot be pickled or copied into JSON by accident:
    it is not a ``str``.

    Examples
    --------
    >>> s = Secret("sk_live_123")
    >>> s
    Secret('********')
    >>> f"token={s}"
    'token=********'
    >>> s.reveal()
    'sk_live_123'
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            msg = f"a secret must be a str, got {type(value).__name__}"
            raise TypeError(msg)
        object.__setattr__(self, "_value", value)

    def __setattr__(self, name: str, value: object) -> None:
        msg = "Secret is immutable"
        raise AttributeError(msg)

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str | tuple[object, ...]:
        msg = "a Secret cannot be pickled"
        raise TypeError(msg)


def redact(text: str, secrets: Iterable[Secret | str | None]) -> str:
    """``text`` with every occurrence of each (non-empty) secret replaced by a mask.

    >>> redact("bad token abc123 here", [Secret("abc123")])
    'bad token ******** here'
    """
    for secret in secrets:
        if secret is None:
            continue
        value = secret.reveal() if isinstance(secret, Secret) else secret
        # the value as given, without surrounding whitespace, and as repr() or
        # bytes-repr escape it (``b'sk_…\\r'`` in an httpx message)
        forms = {value, value.strip(), repr(value)[1:-1], repr(value.strip())[1:-1]}
        for form in sorted(forms, key=len, reverse=True):
            if len(form) >= 4 and form in text:
                text = text.replace(form, MASK)
    return text
