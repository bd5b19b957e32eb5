"""Prefect flows that orchestrate :mod:`fusion_ml` library calls (one task, one call)."""
