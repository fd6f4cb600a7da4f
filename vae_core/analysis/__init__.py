"""What can be computed from a trained model: latent operations, 2D projections, the cost of one input
(ELBO terms, the importance-weighted bound) and the split of the KL."""

from .anomaly import ANOMALY_SCORES, ROC, anomaly_scores, ood_roc, scores_for
from .collapse import REMEDIES, Collapse, apply_remedy, collapse_of, remedies_for
from .decomposition import KLDecomposition, kl_decomposition
from .holes import Holes, prior_holes
from .latent import (
    ACTIVE_UNIT_THRESHOLD,
    INTERPOLATIONS,
    LatentError,
    active_units,
    aggregate_std,
    classify,
    dataset_kl_per_dim,
    decode,
    decode_plane,
    embed,
    encode,
    interpolate,
    lerp,
    path_diagnostics,
    plane_grid,
    reconstruct,
    reconstruction_error,
    sample_posterior,
    sample_prior,
    slerp,
    traversal_grid,
    traverse,
)
from .likelihood import IWAE_SAMPLES, InputTerms, input_terms, iwae_bound
from .projection import PROJECTIONS, Projection, project_2d

__all__ = [
    "Holes", "prior_holes",
    "REMEDIES", "Collapse", "apply_remedy", "collapse_of", "remedies_for",
    "ANOMALY_SCORES", "ROC", "anomaly_scores", "ood_roc", "scores_for",
    "IWAE_SAMPLES", "InputTerms", "KLDecomposition", "input_terms", "iwae_bound", "kl_decomposition",
    "ACTIVE_UNIT_THRESHOLD", "INTERPOLATIONS", "PROJECTIONS", "LatentError", "Projection", "active_units",
    "aggregate_std", "classify", "dataset_kl_per_dim", "decode", "decode_plane", "embed", "encode", "interpolate",
    "lerp", "path_diagnostics", "plane_grid", "project_2d", "reconstruct", "reconstruction_error",
    "sample_posterior", "sample_prior",
    "slerp", "traversal_grid", "traverse",
]
