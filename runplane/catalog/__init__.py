"""Runnable models with parameter grids: ridge regression, an xgboost forecast and a Monte Carlo simulator.

A worker runs one as a task with ``python -m runplane.catalog <model_id>``; see ``__main__``.
"""

from runplane.catalog.registry import CATALOG, ModelSpec, get_model, input_seed, validate_inputs

__all__ = ["CATALOG", "ModelSpec", "get_model", "input_seed", "validate_inputs"]
