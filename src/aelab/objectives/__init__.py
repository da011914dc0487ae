"""The objectives shared by both modalities: the Gaussian posterior, the KL regulariser, the VAE step."""
