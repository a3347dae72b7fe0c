"""Environments at a glance: each target of a project, what is applied and deployed there."""
