"""Metrics torchmetrics lacks: latent-space statistics and sequence likelihoods."""
