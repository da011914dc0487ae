"""LightningDataModules and the code that turns hub or local datasets into tensors."""
