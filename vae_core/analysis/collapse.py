"""Posterior collapse, named: which dimensions the decoder ignores (their q(z_d|x) ≈ N(0, 1) for every
input, so KL_d ≈ 0), whether the whole code is gone, and the usual remedies as new run settings.

A few unused dimensions are normal for β > 1 (the model keeps what it needs); the whole code gone
(every dimension, or a total KL near 0) means the decoder models the data without z.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..models.base import ACTIVE_UNIT_THRESHOLD

COLLAPSED_KL = 0.01  # nats: a dimension whose average KL is at most this carries (almost) nothing
NEAR_ZERO_KL = 0.1  # nats: a total KL this small means the code as a whole carries nothing


@dataclass(frozen=True)
class Collapse:
    kl_per_dim: tuple[float, ...]
    collapsed: tuple[int, ...]  # the dimensions `collapse_of` found inactive

    @property
    def total_kl(self) -> float:
        return float(sum(self.kl_per_dim))

    @property
    def whole(self) -> bool:
        """The decoder ignores z: every dimension collapsed, or the KL is near 0 in total."""
        return len(self.collapsed) == len(self.kl_per_dim) or self.total_kl <= NEAR_ZERO_KL

    @property
    def some(self) -> bool:
        return bool(self.collapsed)

    def message(self) -> str:
        dims = ", ".join(f"z{d}" for d in self.collapsed)
        if self.whole:
            return (f"Posterior collapse: the total KL is {self.total_kl:.3f} nats and "
                    f"{len(self.collapsed)} of {len(self.kl_per_dim)} dimensions carry nothing ({dims}). The decoder "
                    "draws its images without looking at z, so the latent space shows nothing.")
        return (f"{len(self.collapsed)} of {len(self.kl_per_dim)} dimensions have collapsed onto the prior "
                f"({dims}: inactive, KL ≈ 0); the other {len(self.kl_per_dim) - len(self.collapsed)} "
                "carry the information.")


def collapse_of(kl_per_dim: Sequence[float], mu_var: Sequence[float] | None = None) -> Collapse:
    """With `mu_var` (the variance of E_q[z_d|x] over the test set), a dimension has collapsed when it
    is inactive by the one definition used everywhere (≤ ACTIVE_UNIT_THRESHOLD); without, when its
    KL is ≤ COLLAPSED_KL."""
    kl = tuple(float(v) for v in kl_per_dim)
    if mu_var is not None and len(mu_var) == len(kl):
        return Collapse(kl, tuple(d for d, v in enumerate(mu_var) if float(v) <= ACTIVE_UNIT_THRESHOLD))
    return Collapse(kl, tuple(d for d, v in enumerate(kl) if v <= COLLAPSED_KL))


# --- remedies: each a change of a run's (model, training) settings -------------------------------

REMEDIES = {
    "warmup": "KL warm-up: β ramps from 0 over the first half of the run, so z is in use before the KL bites",
    "cyclical": "cyclical annealing (Fu et al., 2019): β climbs from 0 four times, reopening unused dimensions",
    "free_bits": "free bits (Kingma et al., 2016): each dimension's first 0.5 nats of KL are free",
    "lower_beta": "a lower β: a quarter of the KL weight",
    "smaller_decoder": "a smaller decoder (a quarter of the width): too strong a decoder needs no z",
}
FREE_BITS = 0.5  # nats per dimension
CYCLES = 4


def remedies_for(family: str, training: dict[str, Any], arch: str = "mlp") -> list[str]:
    """The remedies that apply to a run of this family, objective and architecture."""
    if family not in ("gaussian", "m2") or training.get("objective", "beta-vae") != "beta-vae":
        return []
    names = ["warmup", "cyclical", "lower_beta"]
    if family == "gaussian":
        names += ["free_bits"] if arch == "broadcast" else ["free_bits", "smaller_decoder"]
    return names


def apply_remedy(name: str, model: dict[str, Any], training: dict[str, Any]) -> tuple[dict, dict]:
    """(model, training) settings for a new run with the remedy; everything else as before."""
    if name not in REMEDIES:
        raise ValueError(f"remedy must be one of {', '.join(REMEDIES)}, got {name!r}")
    model, training = dict(model), dict(training)
    epochs = int(training.get("epochs", 10))
    schedule_off = {"warmup_epochs": 0, "kl_cycles": 0}
    if name == "warmup":
        training.update(schedule_off, warmup_epochs=max(1, epochs // 2))
    elif name == "cyclical":
        training.update(schedule_off, kl_cycles=min(CYCLES, epochs))
    elif name == "free_bits":
        training["free_bits"] = FREE_BITS
    elif name == "lower_beta":
        training["beta"] = float(training.get("beta", 1.0)) / 4
    else:
        width = int(model.get("decoder_hidden") or model.get("hidden", 400))
        model["decoder_hidden"] = max(8, width // 4)
    return model, training
