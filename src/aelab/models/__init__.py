"""LightningModules: a net from `aelab.nets` plus its loss, metrics and logging."""
