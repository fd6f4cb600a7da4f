"""The interface every model family implements, so that the trainer, checkpoints, latent
operations and pages never depend on one family's internals.

A family is an `nn.Module` subclass of `LatentModel`. The trainer only calls `loss_terms` and
`evaluate_terms`; pages read `latent_space` to choose their widgets and call `encode`,
`decode`, `reconstruct`, `embed` and `sample`. Batches are dicts (see `Batch`), so families that
use labels fit the same trainer.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypedDict

import torch
from torch import nn

from ..config import ModelConfig, TrainConfig

# One definition of an active dimension everywhere (Burda et al., 2016): the variance over the
# data of E_q[z_d|x] exceeds 0.01. A dimension below it carries no information about x.
ACTIVE_UNIT_THRESHOLD = 0.01


class Batch(TypedDict):
    images: torch.Tensor  # (B, C, H, W) in [0, 1]
    labels: torch.Tensor  # (B,) int64; meaningful only where `labelled`
    labelled: torch.Tensor  # (B,) bool: the label may be used for training


@dataclass(frozen=True)
class LatentSpace:
    """What a family's latent looks like, for the pages that draw it.

    - "continuous": z in R^dim, prior N(0, I) (gaussian).
    - "codebook": a grid of positions (h, w), each one of `codebook_size` code vectors of size dim (vq).
    - "style_class": a continuous style z in R^dim, prior N(0, I), and a class y of `n_classes` (m2).
    - "deterministic": z in R^dim from a deterministic encoder, with no prior (ae).
    """

    kind: Literal["continuous", "codebook", "style_class", "deterministic"]
    dim: int
    grid: tuple[int, int] | None = None
    codebook_size: int | None = None
    n_classes: int | None = None

    def short(self) -> str:
        """A few words, for a metric or a label."""
        if self.kind == "codebook":
            return f"{self.grid[0]}×{self.grid[1]} codes, K={self.codebook_size}"
        if self.kind == "style_class":
            return f"{self.n_classes} classes + {self.dim}D"
        if self.kind == "deterministic":
            return f"{self.dim}D, no prior"
        return f"{self.dim}D Gaussian"

    def describe(self) -> str:
        if self.kind == "codebook":
            h, w = self.grid
            return (f"a {h}×{w} grid of discrete codes, each one of {self.codebook_size} vectors "
                    f"of {self.dim} numbers")
        if self.kind == "style_class":
            return f"a class y of {self.n_classes} and a continuous style z of {self.dim} dimensions"
        if self.kind == "deterministic":
            return f"{self.dim} continuous dimensions from a deterministic encoder, with no prior"
        return f"{self.dim} continuous dimensions with the prior N(0, I)"


@dataclass
class StepContext:
    """What a loss needs from the trainer beyond the batch."""

    train: TrainConfig
    beta: float  # the KL weight now (warm-up applied)
    generator: torch.Generator  # every random draw of the run comes from here
    n_train: int = 0  # training images in all
    n_labelled: int = 0  # of which labelled
    epoch_progress: float = 0.0  # epochs done, fractional (for schedules such as a capacity ramp)
    auxiliary: nn.Module | None = None  # a module the objective trains beside the model (see `auxiliary`)


@dataclass
class LossTerms:
    """One batch's objective and its named parts, in nats (or units) per example.

    `loss` is minimised. `terms` are scalars the trainer averages per epoch under their names;
    `vectors` are per-dimension or per-code statistics averaged the same way (e.g. kl_per_dim).
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    vectors: dict[str, torch.Tensor] = field(default_factory=dict)


class LatentModel(nn.Module):
    """Base class of all families. Subclasses set `family` and implement the methods below."""

    family: ClassVar[str] = ""
    # Names of the main test metrics, most important first (the first is the one to minimise
    # or maximise, as `headline_lower_is_better` says); the Train page and summaries show them.
    headline: ClassVar[tuple[str, ...]] = ("test_loss",)
    headline_lower_is_better: ClassVar[bool] = True
    uses_labels: ClassVar[bool] = False  # the trainer draws a labelled batch beside each batch

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    @property
    def latent_space(self) -> LatentSpace:
        raise NotImplementedError

    # --- training ---------------------------------------------------------------------------

    def loss_terms(self, batch: Batch, ctx: StepContext) -> LossTerms:
        """The training objective on one batch (the model is in train mode)."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate_terms(self, batch: Batch, ctx: StepContext) -> LossTerms:
        """The same terms with β = 1 for reporting; eval mode, nothing updated."""
        return self.loss_terms(batch, ctx)

    def test_metrics(self, sums: dict[str, float], vectors: dict[str, torch.Tensor], n: int) -> dict[str, Any]:
        """Final per-example test metrics from summed terms (scalars) and summed vectors."""
        out: dict[str, Any] = {f"test_{k}": v / n for k, v in sums.items()}
        out.update({f"test_{k}": (v / n).tolist() for k, v in vectors.items()})
        return out

    def set_metrics(self, images: torch.Tensor) -> dict[str, Any]:
        """Test metrics of a set of inputs taken as a whole, not summed over batches (e.g. the split of
        the KL, which needs every input's posterior at once). None for most families."""
        return {}

    def auxiliary(self, config: TrainConfig) -> nn.Module | None:
        """A module the training objective needs beside the model (e.g. a discriminator), optimised
        with it (with Adam settings of its own in an `optimizer_options` dict, if it has one) and
        saved in the trainer state, not in the model's weights. None for most."""
        return None

    def end_of_epoch(self, train_images: Callable[[], torch.Tensor], ctx: StepContext) -> None:
        """A hook for state kept outside the gradient (e.g. restarting dead codes, fitting a prior).
        `train_images()` gives the training images (a copy when the split is used in place: call
        it only when needed)."""

    # --- what pages call --------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> Any:
        """The family's latent representation of (B, C, H, W) images."""
        raise NotImplementedError

    def decode(self, code: Any) -> torch.Tensor:
        """Bernoulli logits (B, C, H, W) from the family's latent representation."""
        raise NotImplementedError

    def reconstruct_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the deterministic reconstruction (posterior means, nearest codes)."""
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """One continuous vector per image (B, E), for maps and projections."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator, **condition: Any) -> torch.Tensor:
        """Logits (n, C, H, W) of draws from the model's prior (optionally conditioned, e.g. y=3)."""
        raise NotImplementedError

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every Linear/Conv weight as PyTorch's default init does, but from `generator`,
    so that runs in one process never share (or disturb) the global random state."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, generator=generator)
