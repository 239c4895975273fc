"""enas.controller: search spaces as decision sequences, the LSTM controller and its REINFORCE update.

    from enas.controller import Controller, Reinforce, SearchSpace

    space = SearchSpace.macro(num_layers=12)
    controller = Controller(space, tanh_constant=1.5, seed=0)
    trainer = Reinforce(controller, learning_rate=1e-3, entropy_weight=1e-4, skip_weight=0.8)
    samples = controller.sample(batch_size=20)       # Samples(tokens, log_prob, entropy, ...)
    metrics = trainer.update(samples.tokens, rewards)  # one Adam step over the 20 samples
"""

from enas.controller.controller import Controller, Samples
from enas.controller.reinforce import Reinforce, RewardError
from enas.controller.search_space import (Anchor, Categorical, InputChoice, SearchSpace,
                                          SkipConnections, Step)

__all__ = ["Anchor", "Categorical", "Controller", "InputChoice", "Reinforce", "RewardError",
           "Samples", "SearchSpace", "SkipConnections", "Step"]
