"""Latent Explorer's core: datasets, VAE models, the ELBO, training, checkpoints, latent operations.

Plain Python + PyTorch; no UI code lives here.
"""

from . import imaging
from .checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointInfo,
    check_name,
    checkpoint_bytes,
    list_checkpoints,
    load_checkpoint,
    make_metadata,
    model_from_bytes,
    save_checkpoint,
)
from .config import ARCHITECTURES, MAX_LATENT_DIM, PRECISIONS, ConfigError, ModelConfig, TrainConfig
from .data import DATASETS, Dataset, DatasetError, load_dataset, render_sprites, split_indices
from .dsprites import load_dsprites
from .idx import default_data_dir, download_mnist_like, load_mnist_like, read_idx
from .jobs import JobSnapshot, TrainingJob
from .latent import (
    ACTIVE_UNIT_THRESHOLD,
    PROJECTIONS,
    Projection,
    active_units,
    aggregate_std,
    dataset_kl_per_dim,
    decode,
    decode_plane,
    encode,
    interpolate,
    lerp,
    plane_grid,
    project_2d,
    reconstruct,
    reconstruction_error,
    sample_posterior,
    sample_prior,
    slerp,
    traversal_grid,
    traverse,
)
from .losses import ELBOTerms, elbo_terms, kl_per_dim
from .models import VAE, build_model
from .trainer import EpochReport, FitResult, StepReport, evaluate, fit
from .user_images import SkippedFile, canvas_to_tensor, image_to_tensor, load_image_path, load_user_images

__all__ = [
    "imaging", "JobSnapshot", "TrainingJob",
    "ACTIVE_UNIT_THRESHOLD", "ARCHITECTURES", "PRECISIONS", "DATASETS", "MAX_LATENT_DIM", "PROJECTIONS",
    "Checkpoint", "CheckpointError", "CheckpointInfo", "ConfigError", "Dataset", "DatasetError",
    "ELBOTerms", "EpochReport", "FitResult", "ModelConfig", "Projection", "StepReport", "TrainConfig", "VAE",
    "active_units", "aggregate_std", "build_model", "check_name", "checkpoint_bytes", "dataset_kl_per_dim",
    "decode", "decode_plane", "elbo_terms", "encode", "evaluate", "fit", "interpolate", "kl_per_dim", "lerp",
    "list_checkpoints", "load_checkpoint", "load_dataset", "make_metadata", "model_from_bytes", "plane_grid",
    "project_2d", "reconstruct", "reconstruction_error", "render_sprites", "sample_posterior", "sample_prior",
    "save_checkpoint",
    "slerp", "split_indices", "traversal_grid", "traverse",
    "SkippedFile", "canvas_to_tensor", "default_data_dir", "download_mnist_like", "image_to_tensor",
    "load_dsprites", "load_image_path", "load_mnist_like", "load_user_images", "read_idx",
]
