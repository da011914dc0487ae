"""aelab: image and text autoencoders as Hydra-composed Lightning experiments."""

__version__ = "0.1.0"
