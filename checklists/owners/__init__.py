"""Naming another owner for a release (the person who gives its final sign-off)."""
