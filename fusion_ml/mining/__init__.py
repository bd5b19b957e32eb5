"""Cross-tenant sequential pattern mining and sequential association rules."""

from fusion_ml.mining.prefixspan import PATTERN_COLUMNS, SequentialPatternMiner
from fusion_ml.mining.sequences import SequenceSet

__all__ = ["PATTERN_COLUMNS", "SequenceSet", "SequentialPatternMiner"]
