"""Disentanglement metrics: pure scores of arrays (`scores`), factor oracles that draw images for
chosen factor values (`oracle`), and the protocol that runs all four on a model (`protocol`)."""

from .oracle import FactorOracle, GridOracle, SpriteOracle, dsprites_oracle, measurable, oracle_for
from .protocol import (
    DEFAULT_PROTOCOL,
    DISENTANGLEMENT_LIB,
    SUMMARY_SCORES,
    Protocol,
    Report,
    check_summary,
    evaluate_disentanglement,
    represent,
)
from .scores import (
    DCI,
    MIG,
    SAP,
    FactorVAEScore,
    MetricError,
    dci,
    dci_from_importance,
    factor_vae_from_votes,
    factor_vae_vote,
    mig,
    normalized_information,
    sap,
)

__all__ = [
    "DCI", "DEFAULT_PROTOCOL", "DISENTANGLEMENT_LIB", "MIG", "SAP", "SUMMARY_SCORES", "FactorOracle",
    "FactorVAEScore", "GridOracle", "MetricError", "Protocol", "Report", "SpriteOracle", "check_summary", "dci",
    "dci_from_importance", "dsprites_oracle", "evaluate_disentanglement", "factor_vae_from_votes",
    "factor_vae_vote", "measurable", "mig", "normalized_information", "oracle_for", "represent", "sap",
]
