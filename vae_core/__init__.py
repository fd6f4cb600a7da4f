"""Latent Explorer's core: datasets, model families, training runs, checkpoints, latent analysis.

Plain Python + PyTorch; no UI code lives here. The layers (see docs/architecture.md):
`data` (sources behind a registry) -> `models` (families behind one interface) -> `training`
(loop, run record, one run function, worker-process runners) -> `checkpoints` -> `analysis`.
"""

from . import imaging
from .analysis import (
    ACTIVE_UNIT_THRESHOLD,
    ANOMALY_SCORES,
    INTERPOLATIONS,
    IWAE_SAMPLES,
    PROJECTIONS,
    REMEDIES,
    ROC,
    Collapse,
    Holes,
    InputTerms,
    KLDecomposition,
    LatentError,
    Projection,
    active_units,
    aggregate_std,
    anomaly_scores,
    apply_remedy,
    classify,
    collapse_of,
    dataset_kl_per_dim,
    decode,
    decode_plane,
    embed,
    encode,
    input_terms,
    interpolate,
    iwae_bound,
    kl_decomposition,
    lerp,
    ood_roc,
    path_diagnostics,
    plane_grid,
    prior_holes,
    project_2d,
    reconstruct,
    reconstruction_error,
    remedies_for,
    sample_posterior,
    sample_prior,
    scores_for,
    slerp,
    traversal_grid,
    traverse,
)
from .checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointInfo,
    check_name,
    checkpoint_bytes,
    compact_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_trainer_state,
    make_metadata,
    model_from_bytes,
    save_checkpoint,
)
from .config import (
    ARCHITECTURES,
    FAMILIES,
    MAX_LATENT_DIM,
    OBJECTIVE_DESCRIPTIONS,
    OBJECTIVES,
    PRECISIONS,
    ConfigError,
    ModelConfig,
    Param,
    TrainConfig,
    applies,
    params_of,
)
from .data import DATASETS, Dataset, DatasetError, balanced_label_mask, load_dataset, split_indices
from .data.user_images import SkippedFile, canvas_to_tensor, image_to_tensor, load_image_path, load_user_images
from .models import (
    FAMILY_CLASSES,
    FAMILY_DESCRIPTIONS,
    VAE,
    ELBOTerms,
    GaussianVAE,
    LatentModel,
    LatentSpace,
    build_model,
    elbo_terms,
    kl_per_dim,
)
from .training.record import EpochRecord, RunRecord
from .training.run import RunOutcome, RunSpec, run_training
from .training.runner import AdmissionError, ProcessRunner, RunHandle, Runner, RunProgress, runner_from_env
from .training.trainer import FitResult, StepReport, TrainData, TrainerState, fit
from .training.trainer import evaluate as evaluate_model  # vae_core.evaluate is the metrics CLI

__all__ = [
    "Holes", "prior_holes",
    "REMEDIES", "Collapse", "apply_remedy", "collapse_of", "remedies_for",
    "ANOMALY_SCORES", "ROC", "anomaly_scores", "ood_roc", "scores_for",
    "IWAE_SAMPLES", "InputTerms", "KLDecomposition", "input_terms", "iwae_bound", "kl_decomposition",
    "imaging",
    "ACTIVE_UNIT_THRESHOLD", "ARCHITECTURES", "DATASETS", "FAMILIES", "FAMILY_CLASSES", "FAMILY_DESCRIPTIONS",
    "INTERPOLATIONS", "MAX_LATENT_DIM", "OBJECTIVES", "OBJECTIVE_DESCRIPTIONS", "PRECISIONS", "PROJECTIONS",
    "Checkpoint", "CheckpointError", "CheckpointInfo", "ConfigError", "Dataset", "DatasetError", "ELBOTerms",
    "EpochRecord", "FitResult", "GaussianVAE", "LatentError", "LatentModel", "LatentSpace", "ModelConfig", "Param",
    "AdmissionError", "ProcessRunner", "Projection", "RunHandle", "RunOutcome", "RunProgress", "RunRecord",
    "RunSpec", "Runner", "runner_from_env",
    "SkippedFile", "StepReport", "TrainConfig", "TrainData", "TrainerState", "VAE",
    "active_units", "aggregate_std", "applies", "balanced_label_mask", "build_model", "canvas_to_tensor", "check_name",
    "checkpoint_bytes", "classify", "compact_checkpoint", "dataset_kl_per_dim", "decode", "decode_plane",
    "elbo_terms", "embed",
    "encode", "evaluate_model", "fit", "image_to_tensor", "interpolate", "kl_per_dim", "lerp",
    "path_diagnostics", "list_checkpoints",
    "load_checkpoint", "load_dataset", "load_image_path", "load_trainer_state", "load_user_images",
    "make_metadata", "model_from_bytes", "params_of", "plane_grid", "project_2d", "reconstruct",
    "reconstruction_error", "run_training", "sample_posterior", "sample_prior", "save_checkpoint", "slerp",
    "split_indices", "traversal_grid", "traverse",
]
