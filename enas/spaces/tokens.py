"""Parsing of architecture tokens shared by the search spaces' architecture values."""

from __future__ import annotations

import operator
from typing import Any, Callable, Optional, Sequence

from enas.errors import ArchitectureError


def integer_tokens(tokens: Sequence[Any], role: Optional[Callable[[int], str]] = None,
                   from_text: bool = False) -> list[int]:
    """The tokens as Python ints, or ArchitectureError naming the first bad token's position.

    Args:
      tokens: integers (Python or NumPy; with ``from_text``, the words of an architecture string).
      role: maps a position to what the token there means (``"layer 2, skip bit 0"``), for messages.
      from_text: the tokens are words, parsed with ``int``; otherwise they must be integers already
        (``operator.index``: a float or a string is refused).
    """
    values = []
    for position, token in enumerate(tokens):
        try:
            values.append(int(token) if from_text else operator.index(token))
        except (TypeError, ValueError):
            where = f"token {position} ({role(position)})" if role else f"token {position}"
            shown = f"'{token}'" if from_text else repr(token)
            raise ArchitectureError(f"{where} is {shown}; expected an integer") from None
    return values
