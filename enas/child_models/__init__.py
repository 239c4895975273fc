"""enas.child_models."""
