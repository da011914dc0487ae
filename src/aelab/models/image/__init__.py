"""Image models: the autoencoder, VAE and VQ-VAE objectives on images, and the code prior."""
