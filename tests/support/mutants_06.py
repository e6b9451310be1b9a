"""Chapter 6 submissions for the autograder tests: the usual mistakes in writing optimizers,
each of which must lose points in the test that names it."""
from bugs import Bug

SLUG = "06_optimizers"

# name -> Bug(exercise, text in the reference, buggy text, test that must fail)
BUGS = {
    "Adam without bias correction": Bug(
        "Adam",
        "        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + self.eps\n"
        "        p -= self.lr / (1 - b1 ** t) * m / denom",
        "        denom = np.sqrt(v) + self.eps\n        p -= self.lr * m / denom",
        "test_adam",
    ),
    "Adam with eps inside the square root": Bug(
        "Adam",
        "denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + self.eps",
        "denom = np.sqrt(v / (1 - b2 ** t) + self.eps)",
        "test_adam",
    ),
    "Adam's bias correction counted from step 0": Bug(
        "Adam",
        'state["step"] = t = state.get("step", 0) + 1',
        'state["step"] = state.get("step", 0) + 1\n        t = state["step"] + 1',
        "test_adam",
    ),
    "RMSprop decay applied to the new squared gradient": Bug(
        "RMSprop",
        "        s *= self.alpha\n        s += (1 - self.alpha) * g * g",
        "        s *= 1 - self.alpha\n        s += self.alpha * g * g",
        "test_rmsprop",
    ),
    "momentum buffer not kept between steps": Bug(
        "SGD",
        '            if "buf" not in state:\n                state["buf"] = g.copy()\n            else:\n'
        '                state["buf"] *= self.momentum\n                state["buf"] += (1 - self.dampening) * g\n'
        '            g = g + self.momentum * state["buf"] if self.nesterov else state["buf"]',
        '            buf = (1 - self.dampening) * g\n'
        '            g = g + self.momentum * buf if self.nesterov else buf',
        "test_sgd_momentum",
    ),
    "dampening applied on the first step too": Bug(
        "SGD",
        '                state["buf"] = g.copy()',
        '                state["buf"] = (1 - self.dampening) * g',
        "test_sgd_momentum",
    ),
    "Nesterov ignored": Bug(
        "SGD",
        'g = g + self.momentum * state["buf"] if self.nesterov else state["buf"]',
        'g = state["buf"]',
        "test_sgd_momentum",
    ),
    "Adagrad accumulating the gradient instead of its square": Bug(
        "Adagrad",
        "        s += g * g",
        "        s += g",
        "test_adagrad",
    ),
    "Adagrad with eps inside the square root": Bug(
        "Adagrad",
        "p -= self.lr * g / (np.sqrt(s) + self.eps)",
        "p -= self.lr * g / np.sqrt(s + self.eps)",
        "test_adagrad",
    ),
    "clipping each gradient by its own norm": Bug(
        "clip_grad_norm",
        "    total = math.sqrt(sum(float((g * g).sum()) for g in grads))\n"
        "    coef = min(1.0, max_norm / (total + 1e-6))\n"
        "    for g in grads:\n"
        "        g *= coef",
        "    total = math.sqrt(sum(float((g * g).sum()) for g in grads))\n"
        "    for g in grads:\n"
        "        g *= min(1.0, max_norm / (math.sqrt(float((g * g).sum())) + 1e-6))",
        "test_clip_grad_norm",
    ),
    "clipped gradients returned but not changed in place": Bug(
        "clip_grad_norm",
        "    for g in grads:\n        g *= coef\n    return total",
        "    grads = [g * coef for g in grads]\n    return total",
        "test_clip_grad_norm",
    ),
    "AdamW with weight decay coupled to the gradient": Bug(
        "AdamW",
        "        p *= 1 - self.lr * self.weight_decay\n",
        "        g = g + self.weight_decay * p\n",
        "test_adamw",
    ),
    "SGD weight decay that changes the caller's gradient": Bug(
        "SGD",
        "            g = g + self.weight_decay * p",
        "            g += self.weight_decay * p",
        "test_sgd",
    ),
    "momentum buffer that is the caller's gradient array (no copy)": Bug(
        "SGD",
        '                state["buf"] = g.copy()',
        '                state["buf"] = g',
        "test_sgd_momentum",
    ),
    "Adam in the paper's compact form (eps not rescaled)": Bug(
        "Adam",
        "        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + self.eps\n"
        "        p -= self.lr / (1 - b1 ** t) * m / denom",
        "        step_size = self.lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)\n"
        "        p -= step_size * m / (np.sqrt(v) + self.eps)",
        "test_adam",
    ),
    "RMSprop with eps inside the square root": Bug(
        "RMSprop",
        "p -= self.lr * g / (np.sqrt(s) + self.eps)",
        "p -= self.lr * g / np.sqrt(s + self.eps)",
        "test_rmsprop",
    ),
    "clipping that also scales small gradients up": Bug(
        "clip_grad_norm",
        "    coef = min(1.0, max_norm / (total + 1e-6))",
        "    coef = max_norm / (total + 1e-6)",
        "test_clip_grad_norm",
    ),
    # the list the function was given holds the clipped copies, the caller's arrays (a model's
    # gradients, held elsewhere) are untouched: a check that reads the list back cannot tell, so
    # the visible and the hidden test both read the caller's arrays
    "clipped copies put into the list, the arrays left unchanged": Bug(
        "clip_grad_norm",
        "    for g in grads:\n        g *= coef\n    return total",
        "    for k, g in enumerate(grads):\n        grads[k] = g * coef\n    return total",
        "test_clip_grad_norm",
    ),
}

# AdamW that shrinks the parameter and then calls Adam's update, which adds the decay again.
_ADAMW_TWICE = """
class AdamW(Adam):
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(lr, betas, eps, weight_decay)

    def update(self, p, g, state):
        p *= 1 - self.lr * self.weight_decay
        super().update(p, g, state)
"""
BUGS["AdamW that decays twice (shrinks, then Adam adds the L2 term)"] = Bug.whole({"AdamW": _ADAMW_TWICE}, "test_adamw")


# Correct answers written differently from the reference: they keep full marks.
GOOD = {
    "bias-corrected moments spelled out, np.linalg.norm, attributes instead of a state dict": {
        "Adam": '''
class Adam(Optimizer):
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def update(self, p, g, state):
        beta1, beta2 = self.betas
        grad = g + self.weight_decay * p if self.weight_decay != 0 else g
        if not state:
            state.update(t=0, m=np.zeros(p.shape), v=np.zeros(p.shape))
        state["t"] += 1
        state["m"] = beta1 * state["m"] + (1 - beta1) * grad
        state["v"] = beta2 * state["v"] + (1 - beta2) * np.square(grad)
        m_hat = state["m"] / (1 - beta1 ** state["t"])
        v_hat = state["v"] / (1 - beta2 ** state["t"])
        p[...] = p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
''',
        "AdamW": '''
class AdamW(Adam):
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(lr, betas, eps, weight_decay)

    def update(self, p, g, state):
        p *= 1 - self.lr * self.weight_decay
        decay, self.weight_decay = self.weight_decay, 0.0
        try:
            super().update(p, g, state)
        finally:
            self.weight_decay = decay
''',
        "SGD": '''
class SGD(Optimizer):
    def __init__(self, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr)
        self.momentum, self.dampening, self.nesterov = momentum, dampening, nesterov
        self.weight_decay = weight_decay

    def update(self, p, g, state):
        d = g + self.weight_decay * p
        if self.momentum == 0:
            np.subtract(p, self.lr * d, out=p)
            return
        buf = state.get("momentum_buffer")
        buf = d.copy() if buf is None else self.momentum * buf + (1 - self.dampening) * d
        state["momentum_buffer"] = buf
        step = d + self.momentum * buf if self.nesterov else buf
        np.subtract(p, self.lr * step, out=p)
''',
        "clip_grad_norm": '''
def clip_grad_norm(grads, max_norm):
    norm = float(np.linalg.norm(np.concatenate([g.ravel() for g in grads])))
    if norm + 1e-6 > max_norm:
        for g in grads:
            np.multiply(g, max_norm / (norm + 1e-6), out=g)
    return norm
''',
    },
}
