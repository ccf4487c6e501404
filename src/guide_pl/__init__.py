"""guide-pl: generative identity unlearning (GUIDE, CVPR 2024) with PyTorch Lightning."""

__version__ = "0.1.0"
