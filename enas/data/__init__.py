"""enas.data: image datasets for the child networks and the Penn Treebank language-model data."""

from enas.data.images import DATASETS, ImageData, load_image_data
from enas.data.ptb import PtbData, load_ptb, write_synthetic_ptb

__all__ = ["DATASETS", "ImageData", "load_image_data", "PtbData", "load_ptb", "write_synthetic_ptb"]
