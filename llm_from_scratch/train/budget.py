"""How big a model, how many tokens, how long: a Chinchilla-style budget.

Training costs about ``C = 6 N D`` FLOPs for ``N`` parameters and ``D`` tokens
(2 for the forward pass, 4 for the backward pass, per parameter and token).
Hoffmann et al. (Chinchilla) found that, for a fixed ``C``, loss is lowest near
``D = 20 N``. Together: ``N = sqrt(C / 120)``, ``D = 20 N``. The wall time then
follows from a *measured* throughput on the reader's own hardware.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TOKENS_PER_PARAM = 20.0


@dataclass(frozen=True)
class Budget:
    """A compute-optimal plan: parameters, tokens and FLOPs."""

    params: float
    tokens: float
    flops: float

    def hours(self, tokens_per_second: float) -> float:
        """Predicted wall time for ``tokens`` at a measured throughput."""
        if not tokens_per_second > 0:
            raise ValueError(f"tokens_per_second must be > 0, got {tokens_per_second}")
        return self.tokens / tokens_per_second / 3600.0


def chinchilla(
    *,
    flops: float | None = None,
    params: float | None = None,
    tokens_per_param: float = TOKENS_PER_PARAM,
) -> Budget:
    """Compute-optimal ``Budget`` from a FLOP budget or a parameter count.

    Give exactly one of ``flops`` (then ``N = sqrt(C / (6 r))``) or ``params``
    (then ``D = r N``), with ``r = tokens_per_param``.
    """
    if (flops is None) == (params is None):
        raise ValueError("give exactly one of flops= or params=")
    if not tokens_per_param > 0:
        raise ValueError(f"tokens_per_param must be > 0, got {tokens_per_param}")
    if flops is not None:
        if not flops > 0:
            raise ValueError(f"flops must be > 0, got {flops}")
        n = math.sqrt(flops / (6.0 * tokens_per_param))
    else:
        if not params > 0:  # type: ignore[operator]
            raise ValueError(f"params must be > 0, got {params}")
        n = float(params)  # type: ignore[arg-type]
    d = tokens_per_param * n
    return Budget(params=n, tokens=d, flops=6.0 * n * d)
