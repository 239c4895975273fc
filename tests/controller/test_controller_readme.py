"""The README's "Using the controller in your own research code" example runs as written."""

import textwrap

import numpy as np

# Keep this identical to the README section (the lead owns README.md).
README_EXAMPLE = textwrap.dedent('''
    import numpy as np
    import tensorflow as tf
    from enas.controller import Controller, Reinforce, SearchSpace

    # A 6-layer macro space: per layer an op id (0..5) then one skip bit per earlier layer.
    space = SearchSpace.macro(num_layers=6)
    controller = Controller(space, tanh_constant=1.5, seed=0)
    trainer = Reinforce(controller, learning_rate=0.01, entropy_weight=1e-4,
                        skip_weight=0.2, num_aggregate=20)

    def reward_of(tokens):
        """Toy reward in [0, 1]: the fraction of layers using op 0 (a 3x3 convolution).
        In a real search this is the child model's validation accuracy."""
        ops = tokens[:, [i + i * (i - 1) // 2 for i in range(6)]]  # the op token of each layer
        return (ops == 0).mean(axis=1)

    for step in range(60):
        samples = controller.sample(batch_size=trainer.num_aggregate)  # tokens, log_prob, ...
        tokens = samples.tokens.numpy()                                 # int32 [20, 21]
        metrics = trainer.update(tokens, reward_of(tokens))             # one Adam step
        if step % 20 == 0:
            print(step, {k: round(v, 3) for k, v in metrics.items()})

    best = controller.greedy().tokens.numpy()[0]
    print("greedy architecture:", " ".join(map(str, best)), "reward", reward_of(best[None])[0])

    # Re-score any architecture (validated first; a bad token raises ArchitectureError).
    print("log p =", float(controller.log_prob(best).log_prob[0]))

    # Everything (weights, Adam slots, baseline, step, sampling stream) is checkpointable.
    path = tf.train.Checkpoint(controller_trainer=trainer).save("/tmp/enas_controller/ckpt")
''')


def test_readme_example_runs_and_learns(capsys, tmp_path):
    namespace = {}
    code = README_EXAMPLE.replace("/tmp/enas_controller", str(tmp_path))
    exec(compile(code, "README example", "exec"), namespace)
    assert namespace["reward_of"](namespace["best"][None])[0] >= 5 / 6
    assert "greedy architecture:" in capsys.readouterr().out
    assert np.isfinite(namespace["metrics"]["loss"])
    assert (tmp_path / "checkpoint").exists()
