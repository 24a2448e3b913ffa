"""Renderers: the same results as text for people and as versioned JSON for machines."""
