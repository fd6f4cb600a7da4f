"""VQ-VAE: a grid of discrete codes from a learned codebook (van den Oord et al., 2017).

encoder -> z_e, an h×w grid of D-dim vectors -> each replaced by its nearest of K codebook vectors
(squared Euclidean) -> z_q -> decoder p(x|z_q), Bernoulli pixels.

Architecture. The shared strided conv stack (`nets.conv_down`) brings the image to its grid, then a
3×3 conv of `hidden` channels and a 1×1 conv give D channels. The grid is whatever that stack ends
at: 28×28 -> 7×7, 32×32 -> 4×4, 64×64 -> 4×4 (each code covers a 16×16 patch), 8×8 or 16×16 -> 4×4.
The decoder mirrors it: 3×3 conv (D -> hidden), 3×3 conv (hidden -> the stack's channels), then
`nets.conv_up`'s transposed convolutions to logits.

Training objective per example, in nats (eq. 3 of the paper without its codebook term):

    loss = recon + β · commitment,   recon = -log p(x|z_q) summed over pixels,
    commitment = Σ over grid positions of ‖z_e − sg(e)‖², β = `TrainConfig.commitment` (0.25).

The commitment term is summed over positions and dimensions per example (then averaged over the
batch), like the reconstruction, so β weighs the two in the same units as in the paper. Gradients
pass the quantisation straight through: z_q = z_e + sg(e − z_e).

Codebook. Not trained by the optimiser: it follows exponential moving averages (decay γ =
`TrainConfig.ema_decay`) of each code's assignment count N_k and of the sum m_k of the encoder
outputs assigned to it, e_k = m_k / Ñ_k, with Laplace smoothing Ñ_k = (N_k + ε) / (n + Kε) · n,
n = Σ_k N_k, ε = 1e-5 (the paper's appendix A.1; the update as in Sonnet's `VectorQuantizerEMA`).
Unlike Sonnet the averages are not zero-debiased: they start consistent with the codebook (N_k = 1,
m_k = e_k). The codebook is drawn on the first training step from that batch's encoder outputs
(K distinct ones when the batch has enough), with the run's generator; until then it is all zeros.

Dead codes. After each EMA update, codes whose moving count N_k is below 1 (chosen less than once
per batch on average) are restarted at random encoder outputs of the current batch, with N_k = 1,
as the "random restarts" of Jukebox (Dhariwal et al., 2020). The trainer sees the count per step
as the term "restarted_codes"; the buffer `restart_count` keeps the total.

Prior. `sample` draws each grid position independently from the code frequencies at that position
over the training set (fitted in `end_of_epoch`). This is not the paper's autoregressive PixelCNN
prior: positions ignore each other, so samples look like patchwork of plausible pieces.

References
- A. van den Oord, O. Vinyals, K. Kavukcuoglu. Neural Discrete Representation Learning. NeurIPS 2017,
  arXiv:1711.00937 (eq. 3; appendix A.1 for the EMA codebook).
- DeepMind Sonnet, `VectorQuantizerEMA` (sonnet/src/nets/vqvae.py): distances, EMA update and
  Laplace smoothing.
- P. Dhariwal et al. Jukebox: A Generative Model for Music, 2020, arXiv:2005.00341 (random restarts
  of codes from the batch's encoder outputs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .base import Batch, LatentModel, LatentSpace, LossTerms, StepContext
from .losses import bernoulli_nll
from .nets import conv_down, conv_up


class VQVAE(LatentModel):
    """encode(x) -> code indices (B, h, w); decode(indices) -> Bernoulli logits (B, C, H, W).

    Buffers (saved with the weights): `codebook` (K, D), `ema_cluster_size` (K,), `ema_code_sum`
    (K, D), `prior_probs` (h*w, K), `codebook_ready` (1,) int64 (0 until drawn from data) and
    `restart_count` (1,) int64.
    """

    family: ClassVar[str] = "vq"
    headline: ClassVar[tuple[str, ...]] = ("test_recon", "test_perplexity", "test_dead_codes")

    LAPLACE_EPS: ClassVar[float] = 1e-5  # Sonnet's epsilon: keeps unused codes from dividing by 0
    DEAD_BELOW: ClassVar[float] = 1.0  # EMA assignments per batch under which a code is restarted

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        c, height, width = config.image_shape
        d, k, hidden = config.latent_dim, config.codebook_size, config.hidden
        down, (cb, h, w) = conv_down(c, height, width)
        self.grid = (h, w)
        self.encoder = nn.Sequential(*down, nn.Conv2d(cb, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, d, 1))
        self.decoder = nn.Sequential(
            nn.Conv2d(d, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, cb, 3, padding=1), nn.ReLU(),
            *conv_up(c, height, width),
        )
        self.register_buffer("codebook", torch.zeros(k, d))
        # EMA state consistent with the codebook (m_k = N_k · e_k): e_k = m_k / N_k holds before any update.
        self.register_buffer("ema_cluster_size", torch.ones(k))
        self.register_buffer("ema_code_sum", torch.zeros(k, d))
        self.register_buffer("prior_probs", torch.full((h * w, k), 1.0 / k))
        self.register_buffer("codebook_ready", torch.zeros(1, dtype=torch.int64))
        self.register_buffer("restart_count", torch.zeros(1, dtype=torch.int64))

    @property
    def latent_space(self) -> LatentSpace:
        return LatentSpace("codebook", dim=self.config.latent_dim, grid=self.grid,
                           codebook_size=self.config.codebook_size)

    # --- quantisation -----------------------------------------------------------------------

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's output z_e (B, D, h, w), before quantisation."""
        return self.encoder(x)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Code vectors (B, D, h, w) for indices (B, h, w)."""
        return F.embedding(indices, self.codebook).permute(0, 3, 1, 2).contiguous()  # (B, D, h, w)

    def nearest(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices (B, h, w) of the nearest codes to z_e (B, D, h, w), and those codes (B, D, h, w).

        Distances in float32 even under autocast: bfloat16 would pick wrong neighbours."""
        b, d, h, w = z_e.shape
        with torch.autocast(z_e.device.type, enabled=False):
            flat = z_e.detach().float().permute(0, 2, 3, 1).reshape(-1, d)  # (B*h*w, D)
            e = self.codebook  # (K, D)
            dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.T + e.pow(2).sum(1)  # (B*h*w, K)
            indices = dist.argmin(1).view(b, h, w)  # (B, h, w)
        return indices, self.lookup(indices)

    def quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_q, indices): z_q (B, D, h, w) holds the nearest codes' values, but its gradient passes
        straight through to z_e (z_q = z_e + sg(e − z_e)); indices (B, h, w) int64."""
        indices, e = self.nearest(z_e)
        z = z_e.float()
        return z + (e - z).detach(), indices

    def decode_vectors(self, z_q: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (B, C, H, W) from a grid of vectors (B, D, h, w)."""
        return self.decoder(z_q)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, z_e, indices) of one pass, with the straight-through gradient."""
        z_e = self.encode_continuous(x)  # (B, D, h, w)
        z_q, indices = self.quantize(z_e)
        return self.decode_vectors(z_q), z_e, indices

    # --- training ---------------------------------------------------------------------------

    def loss_terms(self, batch: Batch, ctx: StepContext) -> LossTerms:
        """recon + β·commitment per example; in train mode also updates the codebook (EMA, restarts)."""
        x = batch["images"]
        b, k = x.shape[0], self.config.codebook_size
        z_e = self.encode_continuous(x)  # (B, D, h, w)
        if self.training and not self.codebook_ready.item():
            self.init_codebook(z_e, ctx.generator)
        indices, e = self.nearest(z_e)  # (B, h, w), (B, D, h, w)
        z = z_e.float()
        z_q = z + (e - z).detach()  # straight-through
        logits = self.decode_vectors(z_q)
        recon = bernoulli_nll(logits.float(), x).mean()  # the loss in float32
        commitment = (z - e).pow(2).flatten(1).sum(1).mean()  # e is a buffer: only the encoder gets this gradient
        loss = recon + ctx.train.commitment * commitment
        counts = torch.bincount(indices.flatten(), minlength=k).float()  # (K,)
        restarted = 0
        if self.training and self.ema_update(z_e, indices, ctx.train.ema_decay):
            restarted = self.restart_dead_codes(z_e, ctx.generator)
        terms = {"loss": loss.detach(), "recon": recon.detach(), "commitment": commitment.detach(),
                 "restarted_codes": torch.tensor(float(restarted), device=x.device)}
        return LossTerms(loss, terms, {"code_usage": counts / b})

    @torch.no_grad()
    def init_codebook(self, z_e: torch.Tensor, generator: torch.Generator) -> None:
        """Draw the codebook from encoder outputs z_e (B, D, h, w): K distinct ones if there are enough."""
        flat = self._flat(z_e)  # (B*h*w, D)
        pick = _draw_rows(flat.shape[0], self.config.codebook_size, generator, flat.device)  # (K,)
        self.codebook.copy_(flat[pick])
        self.ema_cluster_size.fill_(1.0)
        self.ema_code_sum.copy_(self.codebook)
        self.codebook_ready.fill_(1)

    @torch.no_grad()
    def ema_update(self, z_e: torch.Tensor, indices: torch.Tensor, decay: float) -> bool:
        """Move the EMA statistics and the codebook toward this batch's assignments.

        N_k <- γ N_k + (1 − γ) n_k,  m_k <- γ m_k + (1 − γ) Σ_{j→k} z_j,  e_k = m_k / Ñ_k (Laplace-smoothed).
        Skipped (returns False) when z_e holds non-finite values, so that a diverging step the
        trainer rolls back leaves the codebook intact.
        """
        flat = self._flat(z_e)  # (B*h*w, D)
        if not torch.isfinite(flat).all():
            return False
        k = self.config.codebook_size
        idx = indices.flatten()  # (B*h*w,)
        counts = torch.bincount(idx, minlength=k).to(flat.dtype)  # (K,)
        sums = torch.zeros_like(self.codebook).index_add_(0, idx, flat)  # (K, D)
        self.ema_cluster_size.mul_(decay).add_(counts, alpha=1 - decay)
        self.ema_code_sum.mul_(decay).add_(sums, alpha=1 - decay)
        n = self.ema_cluster_size.sum()
        smoothed = (self.ema_cluster_size + self.LAPLACE_EPS) / (n + k * self.LAPLACE_EPS) * n  # (K,)
        self.codebook.copy_(self.ema_code_sum / smoothed.unsqueeze(1))
        return True

    @torch.no_grad()
    def restart_dead_codes(self, z_e: torch.Tensor, generator: torch.Generator) -> int:
        """Codes with EMA count below `DEAD_BELOW` jump to random encoder outputs of z_e (B, D, h, w),
        distinct ones when there are enough; returns how many were restarted."""
        dead = (self.ema_cluster_size < self.DEAD_BELOW).nonzero().flatten()  # (n_dead,)
        n_dead = dead.numel()
        if n_dead == 0:
            return 0
        flat = self._flat(z_e)  # (B*h*w, D)
        new = flat[_draw_rows(flat.shape[0], n_dead, generator, flat.device)]  # (n_dead, D)
        self.codebook[dead] = new
        # Count 1: a restarted code must win about one vector per batch to stay.
        self.ema_cluster_size[dead] = self.DEAD_BELOW
        self.ema_code_sum[dead] = new * self.DEAD_BELOW
        self.restart_count += n_dead
        return n_dead

    def end_of_epoch(self, train_images: Callable[[], torch.Tensor], ctx: StepContext) -> None:
        self.fit_prior(train_images())

    @torch.no_grad()
    def fit_prior(self, images: torch.Tensor, batch_size: int = 1024) -> None:
        """Set `prior_probs` (h*w, K) to each position's code frequencies over `images` (N, C, H, W)."""
        if images.shape[0] == 0:
            return
        was_training = self.training
        self.eval()
        counts = torch.zeros_like(self.prior_probs)  # (h*w, K)
        for start in range(0, images.shape[0], batch_size):
            idx = self.encode(images[start : start + batch_size]).flatten(1).T  # (h*w, b)
            counts.scatter_add_(1, idx, torch.ones_like(idx, dtype=counts.dtype))
        self.train(was_training)
        self.prior_probs.copy_(counts / counts.sum(1, keepdim=True))

    def test_metrics(self, sums: dict[str, float], vectors: dict[str, torch.Tensor], n: int) -> dict[str, Any]:
        """test_loss/recon/commitment per example, and the code usage over the whole test set:
        perplexity exp(H(p)) (K when all codes are equally used, 1 for a single code), dead codes
        (never chosen), codes used, and the usage fractions p (K,)."""
        out: dict[str, Any] = {f"test_{k}": float(v) / n for k, v in sums.items() if k != "restarted_codes"}
        counts = vectors["code_usage"].detach().double().cpu()  # (K,) total choices of each code
        p = counts / counts.sum().clamp_min(1e-12)  # (K,)
        used = p[p > 0]
        entropy = -(used * used.log()).sum().item()
        out["test_perplexity"] = math.exp(entropy)
        out["test_dead_codes"] = int((counts == 0).sum())
        out["test_codes_used"] = int((counts > 0).sum())
        out["test_code_usage"] = p.tolist()
        return out

    # --- what pages call --------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices (B, h, w) int64 of images (B, C, H, W)."""
        return self.nearest(self.encode_continuous(x))[0]

    def decode(self, indices: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (B, C, H, W) from code indices (B, h, w); apply sigmoid for pixel means."""
        return self.decode_vectors(self.lookup(indices))

    def reconstruct_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The quantised grid flattened (B, D*h*w): what the decoder sees, so images the decoder draws
        alike lie close (an average over positions would lose where each code is)."""
        return self.lookup(self.encode(x)).flatten(1)

    def sample_codes(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Indices (n, h, w): each position drawn independently from its fitted code frequencies."""
        h, w = self.grid
        idx = torch.multinomial(self.prior_probs, n, replacement=True, generator=generator)  # (h*w, n)
        return idx.T.reshape(n, h, w)

    def sample(self, n: int, generator: torch.Generator, **condition: Any) -> torch.Tensor:
        """Logits (n, C, H, W) decoded from `sample_codes`: independent positions, not a PixelCNN."""
        return self.decode(self.sample_codes(n, generator))

    def code_atlas(self) -> torch.Tensor:
        """Logits (K, C, H, W): code k alone at every grid position, for each k."""
        k = self.config.codebook_size
        h, w = self.grid
        indices = torch.arange(k, device=self.codebook.device).view(k, 1, 1).expand(k, h, w)  # (K, h, w)
        return self.decode(indices)

    def codebook_vectors(self) -> torch.Tensor:
        """A copy of the codebook (K, D)."""
        return self.codebook.detach().clone()

    def _flat(self, z_e: torch.Tensor) -> torch.Tensor:
        return z_e.detach().float().permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])  # (B*h*w, D)


def _draw_rows(m: int, n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """n row indices out of m: distinct when m >= n, else with replacement."""
    if m >= n:
        return torch.randperm(m, generator=generator, device=device)[:n]
    return torch.randint(m, (n,), generator=generator, device=device)
