"""Search strategies: what proposes the architectures a search trains and scores.

The search loop (``enas.trainers.search``) knows only the :class:`SearchStrategy` interface. A
strategy is a plug-in: a module in this package that defines a subclass and calls
:func:`register_strategy` (found by name on first use, no list to edit), or a class that research
code registers itself. Built in: ``enas`` (the LSTM controller trained with REINFORCE), ``random``
(random search with weight sharing, the control every ENAS result is reported beside) and ``darts``
(first-order DARTS on the child's mixture mode).
"""

from enas.strategies.base import (SearchStrategy, available_strategies, get_strategy, make_strategy,
                                  register_strategy)

__all__ = ["SearchStrategy", "register_strategy", "get_strategy", "available_strategies", "make_strategy"]
