"""Log-probabilities, entropies and skip penalties against a NumPy re-computation.

The NumPy code below follows the reference controllers' loops step by step (reference section 2:
macro ``GeneralController``, micro ``MicroController``, enas_lm PTB controller), independently of
the declarative search-space machinery, and reads the Keras controller's weights.
"""

import numpy as np
import pytest

from enas.controller import Controller, SearchSpace


def _log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


class _Reference:
    """Teacher-forced (tokens given) or greedy (tokens None) NumPy controller."""

    def __init__(self, controller):
        self.c = controller
        self.w = lambda v: np.asarray(v.numpy(), dtype=np.float64)
        self.kernels = [self.w(k) for k in controller.lstm_kernels]
        self.g = self.w(controller.start_embedding)[0]
        self.size = controller.lstm_size
        if hasattr(controller, "attention_w1"):
            self.w1, self.w2 = self.w(controller.attention_w1), self.w(controller.attention_w2)
            self.v = self.w(controller.attention_v)[:, 0]
        self.state = [(np.zeros(self.size), np.zeros(self.size)) for _ in self.kernels]
        self.log_prob = self.entropy = 0.0
        self.out = []
        self.margins = []  # per decision: max logit - logit of the choice

    def lstm(self, x):
        def sig(z):
            return 1 / (1 + np.exp(-z))

        new = []
        for kernel, (c, h) in zip(self.kernels, self.state):
            i, f, o, g = np.split(np.concatenate([x, h]) @ kernel, 4)
            c = sig(i) * np.tanh(g) + sig(f) * c
            h = sig(o) * np.tanh(c)
            new.append((c, h))
            x = h
        self.state = new
        return x

    def transform(self, logits, tanh_constant):
        if self.c.temperature:
            logits = logits / self.c.temperature
        if tanh_constant:
            logits = tanh_constant * np.tanh(logits)
        return logits

    def choose(self, logits, tokens, position):
        log_probs = _log_softmax(logits)
        choice = int(np.argmax(logits)) if tokens is None else int(tokens[position])
        self.log_prob += log_probs[choice]
        self.entropy += -(np.exp(log_probs) * log_probs).sum()
        self.out.append((position, choice))
        self.margins.append(logits.max() - logits[choice])
        return choice

    def attend(self, keys, h):
        return np.tanh(np.stack(keys) + h @ self.w2) @ self.v

    def tokens(self, length):
        result = np.zeros(length, dtype=np.int64)
        for position, value in self.out:
            result[position] = value
        return result


def reference_macro(controller, num_layers, tokens=None):
    ref = _Reference(controller)
    emb, soft = ref.w(controller.embeddings["op"]), ref.w(controller.softmax_kernels["op"])
    x, anchors, keys, kls, position = ref.g, [], [], [], 0
    rho = controller.skip_target
    for layer in range(num_layers):
        h = ref.lstm(x)
        op = ref.choose(ref.transform(h @ soft, controller.tanh_constant), tokens, position)
        position += 1
        x = emb[op]
        h = ref.lstm(x)
        if layer > 0:
            q = ref.attend(keys, h)
            bits = []
            for j in range(layer):
                pair = np.array([ref.transform(-q[j], controller.tanh_constant),
                                 ref.transform(q[j], controller.tanh_constant)])
                bits.append(ref.choose(pair, tokens, position))
                position += 1
                p = np.exp(_log_softmax(pair))
                kls.append((layer, (p * np.log(p / np.array([1 - rho, rho]))).sum()))
            bits = np.array(bits, dtype=np.float64)
            x = (bits[:, None] * np.stack(anchors)).sum(0) / (1 + bits.sum())
        else:
            x = ref.g
        anchors.append(h)
        keys.append(h @ ref.w1)
    per_layer = [sum(k for at, k in kls if at == layer) for layer in range(1, num_layers)]
    penalty = np.mean(per_layer) if per_layer else 0.0
    return ref.tokens(position), ref.log_prob, ref.entropy, penalty, ref.margins


def reference_micro(controller, num_cells, tokens=None):
    ref = _Reference(controller)
    emb, soft = ref.w(controller.embeddings["op"]), ref.w(controller.softmax_kernels["op"])
    bias = ref.w(controller.softmax_biases["op"])
    num_ops = emb.shape[0]
    fixed = np.array([0.25, 0.25] + [-0.25] * (num_ops - 2))
    op_tanh = controller.tanh_constant / controller.op_tanh_reduce
    for cell in range(2):
        anchors, keys, x = [], [], ref.g
        for _ in range(2):
            h = ref.lstm(x)
            anchors.append(np.zeros(ref.size))
            keys.append(h @ ref.w1)
        for node in range(2, num_cells + 2):
            base = 4 * (cell * num_cells + node - 2)
            for k in range(2):  # both indices first, as the official sampler
                h = ref.lstm(x)
                logits = ref.transform(ref.attend(keys, h), controller.tanh_constant)
                x = anchors[ref.choose(logits, tokens, base + 2 * k)]
            for k in range(2):
                h = ref.lstm(x)
                logits = ref.transform(h @ soft + bias, op_tanh) + (fixed if cell == 0 else 0)
                x = emb[ref.choose(logits, tokens, base + 2 * k + 1)]
            h = ref.lstm(x)
            anchors.append(h)
            keys.append(h @ ref.w1)
            x = ref.g
    return ref.tokens(8 * num_cells), ref.log_prob, ref.entropy, 0.0, ref.margins


def reference_rnn(controller, num_nodes, tokens=None):
    ref = _Reference(controller)
    emb = ref.w(controller.embeddings["func"])
    anchors, keys, x = [np.zeros(ref.size)], [np.zeros(ref.size)], ref.g
    for node in range(1, num_nodes + 1):
        h = ref.lstm(x)
        anchors.append(h)
        keys.append(h @ ref.w1)
        logits = ref.transform(ref.attend(keys[:-1], h), controller.tanh_constant)
        logits = logits - (node - np.arange(node)) ** 2 / 6.0
        prev = ref.choose(logits, tokens, 2 * (node - 1))
        x = anchors[prev] / (0.1 + node - prev)
        h = ref.lstm(x)
        func = ref.choose(ref.transform(h @ emb.T, controller.tanh_constant), tokens, 2 * node - 1)
        x = emb[func]
    return ref.tokens(2 * num_nodes), ref.log_prob, ref.entropy, 0.0, ref.margins


CASES = [
    ("macro", lambda: SearchSpace.macro(4, num_branches=3), reference_macro, 4,
     dict(tanh_constant=1.5)),
    ("macro-2layer-temperature", lambda: SearchSpace.macro(3), reference_macro, 3,
     dict(lstm_num_layers=2, temperature=1.7, tanh_constant=2.0, skip_target=0.3)),
    ("micro", lambda: SearchSpace.micro(num_cells=3), reference_micro, 3,
     dict(tanh_constant=1.1, op_tanh_reduce=2.5)),
    ("micro-plain", lambda: SearchSpace.micro(num_cells=2, num_ops=4), reference_micro, 2, {}),
    ("rnn", lambda: SearchSpace.rnn(4), reference_rnn, 4,
     dict(temperature=5.0, tanh_constant=2.25)),
]


@pytest.mark.parametrize("name,make_space,reference,size,kwargs", CASES, ids=[c[0] for c in CASES])
def test_scores_match_numpy_reference(name, make_space, reference, size, kwargs):
    space = make_space()
    # A wide init range makes the logits far from uniform, so the check is not trivial.
    controller = Controller(space, lstm_size=8, init_range=0.8, seed=3, **kwargs)
    samples = controller.sample(4, seed=11).numpy()
    random_tokens = space.random_tokens(3, seed=5)
    for tokens in list(samples.tokens) + list(random_tokens):
        scores = controller.log_prob(tokens).numpy()
        _, log_prob, entropy, penalty, _ = reference(controller, size, tokens)
        np.testing.assert_allclose(scores.log_prob[0], log_prob, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(scores.entropy[0], entropy, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(scores.skip_penalty[0], penalty, rtol=1e-4, atol=1e-5)
    # The sampler reports the same numbers for what it sampled.
    for row in range(4):
        _, log_prob, entropy, penalty, _ = reference(controller, size, samples.tokens[row])
        np.testing.assert_allclose(samples.log_prob[row], log_prob, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(samples.entropy[row], entropy, rtol=1e-4, atol=1e-4)
    # Greedy decoding takes the argmax at every step. Exact float32 ties (the two saturated
    # micro ops) may break differently from float64 and then the paths diverge, so check that
    # every greedy choice is a maximum of its step's logits.
    greedy = controller.greedy().numpy()
    _, log_prob, _, _, margins = reference(controller, size, greedy.tokens[0])
    assert max(margins) < 1e-5
    np.testing.assert_allclose(greedy.log_prob[0], log_prob, rtol=1e-4, atol=1e-4)


def test_log_prob_is_a_sum_of_per_decision_log_likelihoods():
    space = SearchSpace.macro(3)
    controller = Controller(space, lstm_size=8, seed=0)
    scores = controller.log_prob(space.random_tokens(5, seed=0)).numpy()
    assert np.all(scores.log_prob < 0)  # positive log-prob convention: log p <= 0
    # Every decision has at most log(k) entropy: 3 ops of 6 options and 3 binary skip bits.
    assert np.all(scores.entropy <= 3 * np.log(6) + 3 * np.log(2) + 1e-5)
    assert np.all(scores.entropy > 0)
