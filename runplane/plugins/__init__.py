"""Tracking plugins (MLflow, TensorBoard, Weights & Biases): configuration, sidecars, per-task set-up.

``definitions``: the plugins, their settings and the secret rules; ``manager``: configurations, health and
what a task gets when it is claimed; ``sidecars``: the supervised `mlflow server` / `tensorboard`
processes; ``mlflow_rest``: the MLflow REST calls. docs/plugins.md describes them for users.
"""
