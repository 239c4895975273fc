"""enas.bin."""
