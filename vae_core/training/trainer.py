"""The training loop for every family: dict batches from in-memory tensors, callbacks, a stop flag,
a non-finite-loss guard, and a state that can be saved so a stopped run continues where it ended.

The loop knows only the `LatentModel` interface: `loss_terms` per step, `end_of_epoch`,
`evaluate_terms` + `test_metrics` on the test set. Every random draw comes from the run's own
generators (batches, reparameterisation noise, restarts); nothing touches the global seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ..analysis.decomposition import evenly_spaced
from ..config import TrainConfig
from ..models.base import Batch, LatentModel, StepContext, init_weights
from .record import EpochRecord

EVAL_BATCH = 512


@dataclass(frozen=True)
class TrainData:
    """Images (N, C, H, W) in [0, 1] on the model's device, labels (N,) and which labels may be used.

    With `rows`, the data are those rows of `images` (labels and `labelled` then follow `rows`): a
    split of a large dataset is used in place instead of copied (80,000 of 100,000 sprites: 1.3 GB)."""

    images: torch.Tensor
    labels: torch.Tensor | None = None
    labelled: torch.Tensor | None = None  # (N,) bool; None: every label may be used
    rows: torch.Tensor | None = None  # (N,) indices into `images`; None: all of them, in order

    def __post_init__(self) -> None:
        n = len(self)
        if self.labels is None:
            object.__setattr__(self, "labels", torch.zeros(n, dtype=torch.long, device=self.images.device))
        if self.labelled is None:
            object.__setattr__(self, "labelled", torch.ones(n, dtype=torch.bool, device=self.images.device))

    def __len__(self) -> int:
        return int(self.images.shape[0] if self.rows is None else self.rows.shape[0])

    def images_at(self, index: torch.Tensor) -> torch.Tensor:
        return self.images[index if self.rows is None else self.rows[index]]

    def all_images(self) -> torch.Tensor:
        """Every image of the data (a copy when they are some rows of a larger tensor)."""
        return self.images if self.rows is None else self.images[self.rows]

    def batch(self, index: torch.Tensor) -> Batch:
        return {"images": self.images_at(index), "labels": self.labels[index], "labelled": self.labelled[index]}


def as_train_data(x: TrainData | torch.Tensor | None) -> TrainData | None:
    return x if x is None or isinstance(x, TrainData) else TrainData(x)


@dataclass(frozen=True)
class StepReport:
    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps_per_epoch: int
    global_step: int
    loss: float  # the family's reported "loss" term (for a VAE: -ELBO at β = 1)
    terms: dict[str, float]
    beta: float | None
    elapsed: float  # seconds since fit started
    samples_per_s: float

    @property
    def recon(self) -> float:
        return self.terms.get("recon", float("nan"))

    @property
    def kl(self) -> float:
        return self.terms.get("kl", float("nan"))


@dataclass
class TrainerState:
    """What a continued run needs beyond the weights: optimiser moments, generator states, counters."""

    optimizer: dict[str, Any] | None = None  # torch optimizer state_dict
    auxiliary: dict[str, torch.Tensor] | None = None  # the objective's auxiliary module's state_dict
    noise_generator: torch.Tensor | None = None  # uint8 state
    batch_generator: torch.Tensor | None = None
    epochs_done: int = 0
    steps_done: int = 0
    elapsed: float = 0.0  # seconds spent before this continuation


@dataclass
class FitResult:
    epochs: list[EpochRecord] = field(default_factory=list)
    stopped: bool = False  # the stop flag was raised
    error: str | None = None  # set when training ended on a non-finite loss
    steps: int = 0
    seconds: float = 0.0  # wall time, evaluation included
    train_seconds: float = 0.0  # time spent in training steps only
    samples: int = 0
    state: TrainerState = field(default_factory=TrainerState)

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.train_seconds if self.train_seconds > 0 else 0.0


class BatchPlan:
    """The batches of one epoch. For a family that uses labels while only some are known, each batch
    is `batch_size` unlabelled rows plus min(batch_size, N_l) labelled rows drawn by cycling
    through seeded permutations of the labelled set (Kingma et al., 2014 balance them the same way)."""

    def __init__(self, data: TrainData, batch_size: int, split_labelled: bool) -> None:
        self.data = data
        self.batch_size = batch_size
        idx = torch.arange(len(data))
        mask = data.labelled.cpu()
        self.labelled_idx = idx[mask]
        self.split = split_labelled and 0 < len(self.labelled_idx) < len(data)
        self.main_idx = idx[~mask] if self.split else idx
        self.labelled_batch = min(batch_size, len(self.labelled_idx)) if self.split else 0

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.main_idx) / self.batch_size)

    @property
    def main_rows(self) -> int:
        return len(self.main_idx)

    def epoch(self, generator: torch.Generator) -> Iterator[Batch]:
        device = self.data.images.device
        order = self.main_idx[torch.randperm(len(self.main_idx), generator=generator)].to(device)
        extra = None
        if self.split:
            need = self.steps_per_epoch * self.labelled_batch
            reps = math.ceil(need / len(self.labelled_idx))
            extra = torch.cat([self.labelled_idx[torch.randperm(len(self.labelled_idx), generator=generator)]
                               for _ in range(reps)]).to(device)
        for step in range(self.steps_per_epoch):
            index = order[step * self.batch_size : (step + 1) * self.batch_size]
            if extra is not None:
                index = torch.cat([index, extra[step * self.labelled_batch : (step + 1) * self.labelled_batch]])
            yield self.data.batch(index)


def _context(model: LatentModel, config: TrainConfig, beta: float, gen: torch.Generator, data: TrainData,
             auxiliary: torch.nn.Module | None = None):
    return StepContext(train=config, beta=beta, generator=gen, n_train=len(data),
                       n_labelled=int(data.labelled.sum()), auxiliary=auxiliary)


@torch.no_grad()
def evaluate(
    model: LatentModel, data: TrainData | torch.Tensor, config: TrainConfig | None = None,
    batch_size: int = EVAL_BATCH, seed: int = 0,
) -> dict[str, Any]:
    """The family's test metrics (`test_*`) over `data` with β = 1, labels hidden from the model."""
    data = as_train_data(data)
    was_training = model.training
    model.eval()
    config = config or TrainConfig(family=model.family)
    gen = torch.Generator(device=data.images.device).manual_seed(seed)
    hidden = replace(data, labelled=torch.zeros_like(data.labelled))
    ctx = _context(model, config, 1.0, gen, hidden)
    sums: dict[str, float] = {}
    vectors: dict[str, torch.Tensor] = {}
    n = len(data)
    for start in range(0, n, batch_size):
        index = torch.arange(start, min(start + batch_size, n), device=data.images.device)
        batch = hidden.batch(index)
        out = model.evaluate_terms(batch, ctx)
        b = len(index)
        for k, v in out.terms.items():
            sums[k] = sums.get(k, 0.0) + v.item() * b
        for k, v in out.vectors.items():
            vectors[k] = vectors.get(k, 0) + v.detach().double().cpu() * b
    metrics = model.test_metrics(sums, vectors, n)
    metrics.update(model.set_metrics(data.images_at(evenly_spaced(n, device=data.images.device))))
    model.train(was_training)
    return metrics


def _state_tensors(*modules: torch.nn.Module) -> list[torch.Tensor]:
    """Parameters and floating buffers (e.g. a codebook kept by moving averages): all a bad step can spoil."""
    return [t for m in modules for t in (*m.parameters(), *(b for b in m.buffers() if b.is_floating_point()))]


def build_auxiliary(model: LatentModel, config: TrainConfig, state: TrainerState | None = None):
    """The objective's auxiliary module (or None), initialised from the run's seed or restored from `state`."""
    auxiliary = model.auxiliary(config)
    if auxiliary is None:
        return None
    device = next(model.parameters()).device
    init_weights(auxiliary, torch.Generator().manual_seed(config.seed + 1))
    auxiliary.to(device)
    if state is not None and state.auxiliary is not None:
        auxiliary.load_state_dict(state.auxiliary)
    return auxiliary


def fit(
    model: LatentModel,
    train: TrainData | torch.Tensor,
    config: TrainConfig,
    *,
    test: TrainData | torch.Tensor | None = None,
    test_images: torch.Tensor | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    state: TrainerState | None = None,
) -> FitResult:
    """Train `model` in place up to `config.epochs` epochs (counting those in `state`, if continued).

    `should_stop` is checked before every step. On a non-finite loss, training ends with
    `FitResult.error` set and the model holds the last weights that gave a finite loss.
    """
    train = as_train_data(train)
    test = as_train_data(test if test is not None else test_images)
    device = train.images.device
    state = state or TrainerState()
    gen = torch.Generator(device=device).manual_seed(config.seed)
    batch_gen = torch.Generator().manual_seed(config.seed)
    if state.noise_generator is not None:
        gen.set_state(state.noise_generator)
        batch_gen.set_state(state.batch_generator)
    auxiliary = build_auxiliary(model, config, state)
    groups = [{"params": list(model.parameters())}]
    aux_params = list(auxiliary.parameters()) if auxiliary is not None else []
    if aux_params:  # a discriminator trains; a posterior memory has buffers only
        groups.append({"params": aux_params, **getattr(auxiliary, "optimizer_options", {})})
    # The fused kernel updates all parameters in one pass: ~19% more examples/s here than the default.
    optimizer = torch.optim.Adam(groups, lr=config.lr, fused=device.type in ("cpu", "cuda"))
    modules = (model,) if auxiliary is None else (model, auxiliary)
    tensors = _state_tensors(*modules)
    last_good = [t.detach().clone() for t in tensors]

    # bfloat16 matrix products run ~4x faster on CPUs with AVX-512 BF16 (or AMX) and on GPUs.
    bf16 = config.precision == "bf16"
    # Channels-last convolutions take the bfloat16 path ~40% faster on CPUs (64x64 sprites, conv VAE).
    channels_last = bf16 and any(isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for m in model.modules())
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if state.optimizer is not None:  # the moments saved; the hyper-parameters from `config`
        groups = optimizer.state_dict()["param_groups"]
        optimizer.load_state_dict({"state": state.optimizer["state"], "param_groups": groups})
        for param, slots in optimizer.state.items():  # the fused step reads moments in the weights' layout
            for slot, value in slots.items():
                if torch.is_tensor(value) and value.shape == param.shape:
                    slots[slot] = torch.empty_like(param, dtype=value.dtype).copy_(value)
    plan = BatchPlan(train, config.batch_size, model.uses_labels)
    steps_per_epoch = plan.steps_per_epoch
    result = FitResult(steps=state.steps_done)
    has_beta = "beta" in config.to_dict()
    model.train()
    start = time.perf_counter()
    for epoch in range(state.epochs_done + 1, config.epochs + 1):
        sums: dict[str, float] = {}
        vec_sums: dict[str, torch.Tensor] = {}
        seen = 0
        beta = config.beta_at(epoch - 1)
        epoch_start = time.perf_counter()
        ctx = _context(model, config, beta, gen, train, auxiliary)
        for step, batch in enumerate(plan.epoch(batch_gen), start=1):
            if should_stop is not None and should_stop():
                result.stopped = True
                break
            ctx.epoch_progress = epoch - 1 + (step - 1) / steps_per_epoch
            ctx.beta = beta = config.beta_at(ctx.epoch_progress)
            if channels_last and batch["images"].dim() == 4:
                batch = {**batch, "images": batch["images"].contiguous(memory_format=torch.channels_last)}
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = model.loss_terms(batch, ctx)
            loss_value = out.loss.item()
            if not math.isfinite(loss_value):
                with torch.no_grad():
                    torch._foreach_copy_(tensors, last_good)
                result.error = (
                    f"training stopped: the loss became {loss_value} at epoch {epoch}, step {step}; "
                    "kept the last weights that gave a finite loss (try a lower learning rate)"
                )
                break
            with torch.no_grad():  # one fused copy for all tensors (the optimizers' own foreach path)
                torch._foreach_copy_(last_good, tensors)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            optimizer.step()

            b = batch["images"].shape[0]
            seen += b
            result.samples += b
            result.steps += 1
            values = {k: v.item() for k, v in out.terms.items()}
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v * b
            for k, v in out.vectors.items():
                vec_sums[k] = vec_sums.get(k, 0) + v.detach().double() * b
            if on_step is not None:
                now = time.perf_counter()
                rate = result.samples / max(result.train_seconds + now - epoch_start, 1e-9)
                on_step(StepReport(epoch, step, steps_per_epoch, result.steps, values.get("loss", loss_value),
                                   values, beta if has_beta else None, state.elapsed + now - start, rate))
        result.train_seconds += time.perf_counter() - epoch_start
        if result.error or seen == 0:
            break
        if result.stopped and seen < plan.main_rows // 2:
            break  # a partial epoch this short says little; don't report it as one
        with torch.no_grad():
            model.end_of_epoch(train.all_images, ctx)
        test_metrics = evaluate(model, test, config, seed=config.seed) if test is not None else {}
        model.train()
        record = EpochRecord(
            epoch=epoch,
            train={k: v / seen for k, v in sums.items()},
            train_vectors={k: (v / seen).tolist() for k, v in vec_sums.items()},
            test=test_metrics,
            beta=beta if has_beta else None,
            elapsed=state.elapsed + time.perf_counter() - start,
            samples_per_s=result.samples_per_s,
        )
        result.epochs.append(record)
        state = replace(state, epochs_done=epoch)
        if on_epoch is not None:
            on_epoch(record)
        if result.stopped:
            break
    with torch.no_grad():  # the last update is not followed by a forward pass: check it here
        if not all(torch.isfinite(t).all() for t in tensors):
            torch._foreach_copy_(tensors, last_good)
            result.error = result.error or (
                "training stopped: the last update made the weights non-finite; kept the weights before it"
            )
    result.seconds = time.perf_counter() - start
    result.state = TrainerState(
        optimizer=optimizer.state_dict(), noise_generator=gen.get_state(), batch_generator=batch_gen.get_state(),
        auxiliary=None if auxiliary is None else {k: v.detach().cpu() for k, v in auxiliary.state_dict().items()},
        epochs_done=state.epochs_done, steps_done=result.steps, elapsed=state.elapsed + result.seconds,
    )
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return result
