"""M2, the semi-supervised VAE of Kingma, Rezende, Mohamed & Welling (2014), "Semi-supervised
learning with deep generative models" (NeurIPS; arXiv:1406.5298), section 3.1.2.

Generative model: p(y) = Cat(1/K), p(z) = N(0, I), p(x|y, z) Bernoulli with logits from a decoder
of [z, onehot(y)]. Inference: a classifier q(y|x) and q(z|x, y) = N(mu, sigma^2), whose first layer
sees [x, onehot(y)] (the image part is computed once and each class adds its own column).

Bounds, in nats per example (β weights the z-KL; β = 1 gives the paper's bound):

    L(x, y) = -log p(x|y, z) + β·KL(q(z|x, y) || p(z)) - log p(y)             (one z sample)
    U(x)    = Σ_y q(y|x)·L(x, y) - H(q(y|x))                                  (all K classes enumerated)

The paper minimises J^α = Σ_labelled L + Σ_unlabelled U + α·Σ_labelled -log q(y|x), with α = 0.1·N.
Here α = `TrainConfig.alpha`·N, and each batch gives the unbiased estimate of J^α / N

    loss = (N_l·mean_L + (N - N_l)·mean_U + α·N_l·mean_cls) / N

with N = ctx.n_train and N_l = ctx.n_labelled (the batch's own counts when the context has none, or
counts that contradict the batch, e.g. N_l = 0 beside labelled rows).
A batch without labelled rows drops both labelled terms, one without unlabelled rows drops the U
term, and the weights are then divided by the N (or N_l) that is left, so the loss stays a per-example
mean: (N - N_l)·mean_U / (N - N_l) = mean_U, or mean_L + α·mean_cls when every label is kept.

MNIST with 100 labels (10 per class), pixels in [0, 1], the paper's α and networks (mlp, hidden 500,
latent_dim 50), batch 100, Adam lr 1e-3, β = 1, no warm-up: test accuracy of argmax q(y|x) rises from
75% after one epoch to 85% after 9 (seed 0) or 16 (seed 1) epochs, 88.7% / 85.3% after 20 and 89.4% / 86.6%
after 25 / 23, at about 50 s per epoch on one CPU thread; the same classifier network trained on the
100 labels alone reaches 73-77%.

References consulted: the paper's code (github.com/dpkingma/nips14-ssl), Pyro's SS-VAE example
(pyro.ai/examples/ss-vae.html) and github.com/jonemeth/generative-models (ssl-vae), a PyTorch port.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .base import Batch, LatentModel, LatentSpace, LossTerms, StepContext
from .losses import bernoulli_nll, gaussian_kl
from .nets import dense_decoder, dense_encoder


def weighted_objective(
    mean_l: torch.Tensor | None, mean_u: torch.Tensor | None, mean_cls: torch.Tensor | None,
    n_train: int, n_labelled: int, alpha: float,
) -> torch.Tensor:
    """J^α / N from per-batch means (None: the batch has no such rows), α = alpha·N (see the module doc)."""
    n, n_l = n_train, n_labelled
    total = weight = 0.0
    if mean_l is not None:
        total = total + n_l * mean_l + alpha * n * n_l * mean_cls
        weight += n_l
    if mean_u is not None:
        total = total + (n - n_l) * mean_u
        weight += n - n_l
    return total / max(weight, 1)


class M2(LatentModel):
    """classify(x) -> logits of q(y|x); encode(x, y) -> (mu, logvar, q(y|x)); decode((z, y)) -> logits."""

    family: ClassVar[str] = "m2"
    headline: ClassVar[tuple[str, ...]] = ("test_accuracy", "test_loss")
    headline_lower_is_better: ClassVar[bool] = False
    uses_labels: ClassVar[bool] = True

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        k, d, hidden, shape = config.n_classes, config.latent_dim, config.hidden, config.image_shape
        layers = config.hidden_layers
        self.classifier = nn.Sequential(dense_encoder(config.arch, shape, hidden, layers), nn.Linear(hidden, k))
        # q(z|x, y): the encoder's last ReLU is applied after y's column is added (y joins the last hidden layer)
        self.encoder = nn.Sequential(*list(dense_encoder(config.arch, shape, hidden, layers))[:-1])
        self.encoder_y = nn.Linear(k, hidden, bias=False)
        self.to_mu = nn.Linear(hidden, d)
        self.to_logvar = nn.Linear(hidden, d)
        self.decoder = dense_decoder(config.arch, shape, d + k, hidden, layers)

    @property
    def n_classes(self) -> int:
        return self.config.n_classes

    @property
    def latent_space(self) -> LatentSpace:
        return LatentSpace("style_class", dim=self.config.latent_dim, n_classes=self.n_classes)

    # --- the networks ---------------------------------------------------------------------------

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of q(y|x): (B, K)."""
        return self.classifier(x)

    def _one_hot(self, y: torch.Tensor) -> torch.Tensor:
        """Class indices (B,) or one-hot / soft rows (B, K) -> float rows (B, K)."""
        if y.dim() == 1:
            return F.one_hot(y.long(), self.n_classes).float()
        return y.float()

    def _z_params(self, pre: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mu, logvar of q(z|x, y) from the image's pre-activation (B, H) and one-hot y (B, K)."""
        h = F.relu(pre + self.encoder_y(y))  # (B, H)
        return self.to_mu(h), self.to_logvar(h)  # (B, D), (B, D)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """(mu, logvar) of q(z|x, y) and the class probabilities q(y|x) (B, K); y = argmax q(y|x) if not given."""
        probs = F.softmax(self.classify(x), dim=1)  # (B, K)
        y = probs.argmax(1) if y is None else y
        mu, logvar = self._z_params(self.encoder(x), self._one_hot(y))
        return mu, logvar, probs

    def decode_zy(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (B, C, H, W) of p(x|y, z); y is (B,) int64 or (B, K) one-hot."""
        return self.decoder(torch.cat([z, self._one_hot(y).to(z.dtype)], dim=1))

    def decode(self, code: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        z, y = code
        return self.decode_zy(z, y)

    # --- the bounds -----------------------------------------------------------------------------

    def _bound(self, x: torch.Tensor, pre: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None,
               beta: float) -> dict[str, torch.Tensor]:
        """L(x, y) for class indices y (B,), one z sample: per-example terms, each (B,) (kl_dims (B, D))."""
        onehot = self._one_hot(y)  # (B, K)
        mu, logvar = self._z_params(pre, onehot)
        mu, logvar = mu.float(), logvar.float()  # the loss in float32 under bf16 autocast
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + torch.exp(0.5 * logvar) * eps  # (B, D)
        recon = bernoulli_nll(self.decode_zy(z, onehot).float(), x)  # (B,)
        kl_dims = gaussian_kl(mu, logvar)  # (B, D)
        kl = kl_dims.sum(1)  # (B,)
        return {"L": recon + beta * kl + math.log(self.n_classes), "recon": recon, "kl": kl, "kl_dims": kl_dims}

    def _bound_all_classes(self, x: torch.Tensor, pre: torch.Tensor, generator: torch.Generator | None,
                           beta: float) -> dict[str, torch.Tensor]:
        """L(x, y) for every class at once: each term (B, K) (kl_dims (B, K, D))."""
        b, k = x.shape[0], self.n_classes
        ys = torch.arange(k, device=x.device).repeat_interleave(b)  # (K*B,): class-major
        t = self._bound(x.repeat(k, *([1] * (x.dim() - 1))), pre.repeat(k, 1), ys, generator, beta)
        return {name: v.reshape(k, b, *v.shape[1:]).transpose(0, 1) for name, v in t.items()}

    def _terms(self, batch: Batch, ctx: StepContext, beta: float, evaluating: bool) -> LossTerms:
        x, labels, labelled = batch["images"], batch["labels"], batch["labelled"]
        b = x.shape[0]
        logits = self.classify(x).float()  # (B, K)
        log_q = F.log_softmax(logits, dim=1)  # (B, K)
        pre = self.encoder(x)  # (B, H)
        lab, unl = labelled.nonzero().flatten(), (~labelled).nonzero().flatten()
        terms: dict[str, torch.Tensor] = {}
        kl_dims = torch.zeros(self.config.latent_dim, device=x.device)
        mean_l = mean_u = mean_cls = None

        if len(lab):
            t = self._bound(x[lab], pre[lab], labels[lab], ctx.generator, beta)
            mean_l = t["L"].mean()
            mean_cls = F.cross_entropy(logits[lab], labels[lab])
            terms["labelled"] = mean_l
            terms["classification"] = mean_cls
            terms["accuracy"] = (logits[lab].argmax(1) == labels[lab]).float().mean()
            kl_dims = kl_dims + t["kl_dims"].sum(0) / b
        if len(unl):
            t = self._bound_all_classes(x[unl], pre[unl], ctx.generator, beta)
            lq = log_q[unl]  # (Bu, K)
            q = lq.exp()  # (Bu, K)
            u = (q * (t["L"] + lq)).sum(1)  # (Bu,): Σ_y q·L - H(q)
            mean_u = u.mean()
            terms["unlabelled"] = mean_u
            kl_dims = kl_dims + (q[:, :, None] * t["kl_dims"]).sum((0, 1)) / b
            if evaluating:  # U = recon + KL(q(z|x,y)) + KL(q(y|x) || p(y)), their expectations under q(y|x)
                recon = (q * t["recon"]).sum(1)
                kl_z = (q * t["kl"]).sum(1)
                kl_y = (q * lq).sum(1) + math.log(self.n_classes)
                terms.update(neg_elbo=mean_u, recon=recon.mean(), kl=(kl_z + kl_y).mean(), kl_z=kl_z.mean(),
                             kl_y=kl_y.mean(), accuracy=(logits.argmax(1) == labels).float().mean(),
                             classification=F.cross_entropy(logits, labels))

        n_train, n_labelled = ctx.n_train, ctx.n_labelled
        if not (n_train > 0 and (n_labelled > 0 or not len(lab)) and (n_labelled < n_train or not len(unl))):
            n_train, n_labelled = b, len(lab)  # counts that contradict the batch: use the batch's own
        loss = weighted_objective(mean_l, mean_u, mean_cls, n_train, n_labelled, ctx.train.alpha)
        terms = {"loss": loss, **terms}
        vectors = {"kl_per_dim": kl_dims, "class_usage": log_q.exp().mean(0)}
        return LossTerms(loss, {k: v.detach() for k, v in terms.items()}, {k: v.detach() for k, v in vectors.items()})

    def loss_terms(self, batch: Batch, ctx: StepContext) -> LossTerms:
        return self._terms(batch, ctx, ctx.beta, evaluating=False)

    @torch.no_grad()
    def evaluate_terms(self, batch: Batch, ctx: StepContext) -> LossTerms:
        """The unlabelled bound with β = 1 on every row (labels hidden), and the accuracy of argmax q(y|x)."""
        hidden: Batch = {**batch, "labelled": torch.zeros_like(batch["labelled"])}
        return self._terms(hidden, ctx, 1.0, evaluating=True)

    def test_metrics(self, sums: dict[str, float], vectors: dict[str, torch.Tensor], n: int) -> dict[str, Any]:
        out = super().test_metrics(sums, vectors, n)
        if "test_neg_elbo" in out:
            out["test_loss"] = out["test_neg_elbo"]  # -ELBO of the unlabelled bound, nats per example
        if "test_accuracy" in out:
            out["test_error"] = 1.0 - out["test_accuracy"]
        return out

    # --- what pages call --------------------------------------------------------------------------

    def reconstruct_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Decode z = mu of q(z|x, ŷ) with the predicted class ŷ."""
        mu, _, probs = self.encode(x)
        return self.decode_zy(mu, probs.argmax(1))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The style: mu of q(z|x, ŷ), (B, D)."""
        return self.encode(x)[0]

    def sample(self, n: int, generator: torch.Generator, y: int | torch.Tensor | None = None,
               **condition: Any) -> torch.Tensor:
        """Logits (n, C, H, W) with z ~ N(0, I) and y as given (an int or (n,) classes), else uniform."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=device)
        if y is None:
            y = torch.randint(self.n_classes, (n,), generator=generator, device=device)
        elif isinstance(y, int):
            y = torch.full((n,), y, dtype=torch.long, device=device)
        return self.decode_zy(z, y)

    def style_class_grid(self, x: torch.Tensor, classes: list[int] | torch.Tensor | None = None) -> torch.Tensor:
        """Analogies: logits (B*K', C, H, W), row i = image i's style (mu given its predicted class),
        column j = classes[j] (all K by default); index i*K' + j."""
        classes = torch.arange(self.n_classes) if classes is None else torch.as_tensor(classes)
        classes = classes.long().to(x.device)
        mu = self.embed(x)  # (B, D)
        z = mu.repeat_interleave(len(classes), dim=0)  # (B*K', D)
        y = classes.repeat(x.shape[0])  # (B*K',)
        return self.decode_zy(z, y)
