"""Multi-tenant alert simulator with ground truth (see :mod:`fusion_ml.simulate.generator`)."""

from fusion_ml.simulate.generator import (
    SIM_SCHEMA,
    SimulationConfig,
    SimulationStats,
    Simulator,
)
from fusion_ml.simulate.writers import FORMATS, simulate

__all__ = ["FORMATS", "SIM_SCHEMA", "SimulationConfig", "SimulationStats", "Simulator",
           "simulate"]
