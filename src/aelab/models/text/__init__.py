"""Text models: the language model, the sentence autoencoder and the sentence VAE."""
