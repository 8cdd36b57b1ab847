"""Evaluation: ``metrics`` (accuracy, confusion matrix, calibration), ``plots`` and the HTML ``report``."""
