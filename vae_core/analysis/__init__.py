"""What can be computed from a trained model: latent operations and 2D projections."""

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
    plane_grid,
    reconstruct,
    reconstruction_error,
    sample_posterior,
    sample_prior,
    slerp,
    traversal_grid,
    traverse,
)
from .projection import PROJECTIONS, Projection, project_2d

__all__ = [
    "ACTIVE_UNIT_THRESHOLD", "INTERPOLATIONS", "PROJECTIONS", "LatentError", "Projection", "active_units",
    "aggregate_std", "classify", "dataset_kl_per_dim", "decode", "decode_plane", "embed", "encode", "interpolate",
    "lerp", "plane_grid", "project_2d", "reconstruct", "reconstruction_error", "sample_posterior", "sample_prior",
    "slerp", "traversal_grid", "traverse",
]
