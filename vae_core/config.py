"""Frozen, validated configs, saved as JSON beside the weights.

Every hyper-parameter is declared once here, with its default, bounds, help text and the model
families it applies to (`Param` in the field metadata). The CLI builds its flags from these
fields and the Train page its widgets, so a default or a bound can never differ between them.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

FAMILIES = ("gaussian", "vq", "m2", "ae")
ARCHITECTURES = ("mlp", "conv", "broadcast")
MAX_LATENT_DIM = 64
PRECISIONS = ("fp32", "bf16")
MAX_BATCH_SIZE = 4096  # a conv batch of 4096 64x64 images already needs ~1 GB per activation
ALL = FAMILIES
# Training objectives of the gaussian family (vae_core/models/objectives.py implements them).
OBJECTIVES = ("beta-vae", "beta-tcvae", "factor-vae", "capacity")
CYCLE_RAMP = 0.5  # cyclical annealing: the fraction of each cycle over which β climbs (Fu et al., 2019)
OBJECTIVE_DESCRIPTIONS = {
    "beta-vae": "β-VAE: reconstruction + β·KL (Higgins et al., 2017)",
    "beta-tcvae": "β-TCVAE: KL split into index-code MI + β·total correlation + dimension-wise KL (Chen et al., 2018)",
    "factor-vae": "FactorVAE: ELBO + γ·total correlation, estimated by a discriminator (Kim & Mnih, 2018)",
    "capacity": "Capacity annealing: reconstruction + γ·|KL − C|, C ramped up (Burgess et al., 2018)",
}


class ConfigError(ValueError):
    """A config value is out of range; the message names the field."""


@dataclass(frozen=True)
class Param:
    """What the CLI, the page and validation need to know about one hyper-parameter."""

    label: str
    help: str = ""
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    families: tuple[str, ...] = ALL
    log: bool = False  # spans decades: widgets show it in scientific steps
    widget: bool = True  # False: set by the program (e.g. from the dataset), not by the user
    objectives: tuple[str, ...] = OBJECTIVES  # the gaussian objectives it applies to


def param(default: Any, label: str, **kw: Any) -> Any:
    return field(default=default, metadata={"param": Param(label, **kw)})


def params_of(cls) -> dict[str, tuple[Param, Any]]:
    """Field name -> (Param, default) for a config class, in declaration order."""
    out = {}
    for f in fields(cls):
        if "param" in f.metadata:
            out[f.name] = (f.metadata["param"], None if f.default is MISSING else f.default)
    return out


def _check(name: str, p: Param, value: Any, default: Any) -> None:
    if p.choices:
        if value not in p.choices:
            raise ConfigError(f"{name} must be one of {', '.join(p.choices)}, got {value!r}")
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
    elif isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool) or not p.lo <= value <= p.hi:
            raise ConfigError(f"{name} must be an integer in {p.lo:g}..{p.hi:g}, got {value!r}")
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(float(value)) or not (p.lo <= float(value) <= p.hi):  # rejects NaN
            raise ConfigError(f"{name} must be a number in [{p.lo:g}, {p.hi:g}], got {value!r}")


def applies(p: Param, family: str, objective: str | None = None) -> bool:
    """Whether a field means something for this family (and, for gaussian, this objective)."""
    return family in p.families and (objective is None or family != "gaussian" or objective in p.objectives)


def _validate(obj, family: str, objective: str | None = None) -> None:
    """Bounds for every field; a field of another family or objective must keep its default (it
    would do nothing)."""
    for name, (p, default) in params_of(type(obj)).items():
        value = getattr(obj, name)
        if family not in p.families:
            if value != default:
                which = " and ".join(p.families) + (" family" if len(p.families) == 1 else " families")
                raise ConfigError(f"{name} applies to the {which}, not to {family}")
            continue
        if not applies(p, family, objective):
            if value != default:
                raise ConfigError(f"{name} applies to the {', '.join(p.objectives)} objective(s), not to {objective}")
            continue
        _check(name, p, value, default)
        if isinstance(default, float) and isinstance(value, int):
            object.__setattr__(obj, name, float(value))


def _from_dict(cls, data: dict[str, Any]):
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
    try:
        return cls(**data)
    except TypeError as exc:  # missing required field
        raise ConfigError(f"{cls.__name__}: {exc}") from None


def _relevant_dict(obj, family: str, objective: str | None = None) -> dict[str, Any]:
    """The fields that mean something for this family and objective (others hold their defaults)."""
    d = asdict(obj)
    for name, (p, _) in params_of(type(obj)).items():
        if not applies(p, family, objective):
            d.pop(name)
    return d


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's architecture."""

    image_shape: tuple[int, int, int]  # (C, H, W)
    family: str = param("gaussian", "Model family", choices=FAMILIES,
                        help="gaussian: the VAE with z ~ N(μ, σ²); vq: VQ-VAE, a grid of discrete codes; "
                        "m2: semi-supervised VAE with a class y beside a continuous style z; ae: a plain "
                        "autoencoder (deterministic z, no KL), to compare with a VAE")
    latent_dim: int = param(2, "Latent dimensions", lo=1, hi=MAX_LATENT_DIM,
                            help="gaussian and ae: size of z; vq: size of each codebook vector; "
                            "m2: size of the style z")
    arch: str = param("mlp", "Architecture", choices=ARCHITECTURES, families=("gaussian", "m2", "ae"),
                      help="MLP or convolutional encoder and decoder, or broadcast: an MLP encoder with a "
                      "spatial-broadcast decoder, each pixel decoded from z and its own x and y (Watters et al., "
                      "2019), which codes an object's position as one number per axis; ~3× slower than the MLP. "
                      "Hidden width is then the encoder's alone. VQ-VAE is always convolutional")
    hidden: int = param(400, "Hidden width", lo=8, hi=4096,
                        help="MLP width, or the dense layer after the conv stack; for vq, the channels of the "
                        "3×3 convolutions at grid resolution (128 is plenty there, and ~3× faster than 400)")
    hidden_layers: int = param(1, "Hidden layers", lo=1, hi=4, families=("gaussian", "m2", "ae"),
                               help="dense hidden layers in the encoder and in the decoder: an MLP's depth, or "
                               "the dense layers after the conv stack; broadcast: also the number of per-pixel "
                               "layers. Two layers of 512 learn 64×64 sprites ~2.5× faster than one of 1200")
    decoder_hidden: int = param(0, "Decoder width", lo=0, hi=4096, families=("gaussian",),
                                help="the decoder's hidden width; 0 = the same as the encoder's. A weaker decoder "
                                "has to use z: a remedy for posterior collapse. Not for broadcast, whose "
                                "per-pixel width is fixed")
    codebook_size: int = param(64, "Codebook size K", lo=2, hi=1024, families=("vq",),
                               help="number of code vectors each grid position chooses from")
    n_classes: int = param(10, "Classes", lo=2, hi=1000, families=("m2",), widget=False,
                           help="number of classes y (taken from the dataset)")

    def __post_init__(self) -> None:
        shape = tuple(self.image_shape) if isinstance(self.image_shape, (list, tuple)) else ()
        if len(shape) != 3 or not all(isinstance(s, int) and not isinstance(s, bool) for s in shape):
            raise ConfigError(f"image_shape must be three integers (C, H, W), got {self.image_shape!r}")
        c, h, w = shape
        if c not in (1, 3):
            raise ConfigError(f"image_shape channels must be 1 or 3, got {c}")
        if not (4 <= h <= 256 and 4 <= w <= 256):
            raise ConfigError(f"image height and width must be in 4..256, got {h}x{w}")
        object.__setattr__(self, "image_shape", shape)
        if self.family not in FAMILIES:
            raise ConfigError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        _validate(self, self.family)
        if self.arch == "broadcast" and self.family == "gaussian" and self.decoder_hidden:
            raise ConfigError("Decoder width (decoder_hidden) is for MLP and conv decoders; the broadcast "
                              "decoder's per-pixel width is fixed: leave it at 0")
        if self.uses_conv and (h % 4 or w % 4):
            raise ConfigError(f"a convolutional model needs height and width divisible by 4, got {h}x{w}")

    @property
    def uses_conv(self) -> bool:
        return self.family == "vq" or self.arch == "conv"

    def to_dict(self) -> dict[str, Any]:
        d = _relevant_dict(self, self.family)
        d["image_shape"] = list(self.image_shape)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; validated here, not only by widgets."""

    epochs: int = param(10, "Epochs", lo=1, hi=10_000, help="passes over the training images")
    batch_size: int = param(128, "Batch size", lo=1, hi=MAX_BATCH_SIZE, help="images per optimiser step")
    lr: float = param(1e-3, "Learning rate", lo=1e-7, hi=1.0, log=True, help="Adam's step size")
    objective: str = param("beta-vae", "Objective", choices=OBJECTIVES, families=("gaussian",),
                           help="what training minimises; all but β-VAE push the latent towards independent "
                           "dimensions in their own way (see the README)")
    beta: float = param(1.0, "β (KL weight)", lo=0.0, hi=1000.0, families=("gaussian", "m2"),
                        objectives=("beta-vae", "beta-tcvae"),
                        help="β-VAE: weight of the KL term (1 = plain VAE); β-TCVAE: weight of the total "
                        "correlation alone")
    warmup_epochs: int = param(0, "KL warm-up epochs", lo=0, hi=10_000, families=("gaussian", "m2"),
                               objectives=("beta-vae", "beta-tcvae"),
                               help="β ramps linearly from 0 over these epochs")
    kl_cycles: int = param(0, "KL annealing cycles", lo=0, hi=1000, families=("gaussian", "m2"),
                           objectives=("beta-vae",),
                           help="cyclical annealing (Fu et al., 2019): the run is cut into this many cycles; in each, "
                           "β climbs from 0 over the first half, then holds. 0 = off")
    free_bits: float = param(0.0, "Free bits λ (nats per dimension)", lo=0.0, hi=10.0, families=("gaussian",),
                             objectives=("beta-vae",),
                             help="each dimension's KL counts as at least λ (Kingma et al., 2016), so a dimension "
                             "carrying less than λ is not pushed further onto the prior. 0 = off")
    tc_memory: int = param(0, "Posterior memory (batches)", lo=0, hi=256, families=("gaussian",),
                           objectives=("beta-tcvae",),
                           help="β-TCVAE: estimate log q(z) against the posteriors of this many past batches "
                           "as well as the current one. The minibatch alone saturates once z carries more "
                           "than log(batch size) nats, and then penalises each dimension's information "
                           "instead of the total correlation. 0 = the minibatch only, as in Chen et al. (2018)")
    gamma: float = param(10.0, "γ (total-correlation weight)", lo=0.0, hi=1000.0, families=("gaussian",),
                         objectives=("factor-vae",),
                         help="FactorVAE's weight of the discriminator's total-correlation estimate "
                         "(Kim & Mnih, 2018 use 6.4–40 on dSprites)")
    capacity: float = param(25.0, "Capacity C (nats)", lo=0.0, hi=1000.0, families=("gaussian",),
                            objectives=("capacity",),
                            help="the KL that the target C reaches at the end of its ramp")
    capacity_epochs: int = param(0, "Capacity ramp epochs", lo=0, hi=10_000, families=("gaussian",),
                                 objectives=("capacity",),
                                 help="C grows linearly from 0 over these epochs (0: over the whole run)")
    capacity_gamma: float = param(1000.0, "Capacity weight γ", lo=0.0, hi=100_000.0, families=("gaussian",),
                                  objectives=("capacity",),
                                  help="weight of |KL − C| (Burgess et al., 2018 use 1000)")
    labels: int = param(0, "Labels kept", lo=0, hi=1_000_000, families=("m2",),
                        help="keep this many training labels, balanced over classes (seeded); hide the rest. "
                        "0 keeps them all")
    alpha: float = param(0.1, "Classifier weight α/N", lo=0.0, hi=100.0, families=("m2",),
                         help="the classification term is weighted α = this × N, N the training set size "
                         "(Kingma et al., 2014 use 0.1)")
    commitment: float = param(0.25, "Commitment β", lo=0.0, hi=10.0, families=("vq",),
                              help="weight of ‖z_e − sg(e)‖², which keeps the encoder near its codes")
    ema_decay: float = param(0.99, "Codebook EMA decay", lo=0.0, hi=0.9999, families=("vq",),
                             help="codebook vectors follow their assigned encoder outputs by this moving average")
    seed: int = param(0, "Seed", lo=0, hi=2**32 - 1, help="the run's generator: weights, batches and samples")
    precision: str = param("fp32", "Precision", choices=PRECISIONS,
                           help="bf16: forward pass in bfloat16 (faster on CPUs with AVX-512 BF16); "
                           "the loss and the weights stay float32")
    family: str = field(default="gaussian", metadata={})  # the model's; decides which fields apply

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(f"family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.objective not in OBJECTIVES:  # checked first: the other fields' validity depends on it
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        _validate(self, self.family, self.objective)

    def check_schedule(self) -> None:
        """Refuse a ramp longer than the run, before a run starts (records of older runs still load)."""
        applies = _relevant_dict(self, self.family, self.objective)
        if applies.get("warmup_epochs", 0) and applies.get("kl_cycles", 0):
            raise ConfigError("choose a KL warm-up or cyclical annealing, not both: each sets how β grows")
        if applies.get("kl_cycles", 0) > self.epochs:
            raise ConfigError(f"{self.kl_cycles} annealing cycles don't fit in {self.epochs} epochs; "
                              "use at most one cycle per epoch")
        for ramp, what, target in (("warmup_epochs", "KL warm-up", "β"), ("capacity_epochs", "capacity ramp", "C")):
            length = applies.get(ramp, 0)
            if length > self.epochs:
                raise ConfigError(
                    f"a {what} of {length} epochs is longer than the run ({self.epochs} epochs): {target} would "
                    f"only reach {self.epochs / length:.0%} of its value; shorten the {what} or train longer"
                )

    def beta_at(self, epoch_progress: float) -> float:
        """β after `epoch_progress` epochs (fractional): with the linear warm-up, or the cycles."""
        if self.kl_cycles:
            period = self.epochs / self.kl_cycles
            phase = (epoch_progress % period) / period
            return self.beta * min(1.0, phase / CYCLE_RAMP)
        if self.warmup_epochs == 0:
            return self.beta
        return self.beta * min(1.0, epoch_progress / self.warmup_epochs)

    def capacity_at(self, epoch_progress: float) -> float:
        """The capacity target C after `epoch_progress` epochs: a linear ramp from 0."""
        ramp = self.capacity_epochs or self.epochs
        return self.capacity * min(1.0, epoch_progress / ramp)

    def to_dict(self) -> dict[str, Any]:
        return _relevant_dict(self, self.family, self.objective)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return _from_dict(cls, data)
