"""Sweeps: configurations x seeds on joblib or Dask (``runner``) and their tables (``report``)."""

from nnscratch.sweep.runner import Sweep, dask_client, format_value, load_arrays, load_sweep, run_sweep

__all__ = ["Sweep", "dask_client", "format_value", "load_arrays", "load_sweep", "run_sweep"]
