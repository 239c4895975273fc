"""enas.trainers."""
