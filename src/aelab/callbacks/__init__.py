"""Lightning callbacks: what a run shows in TensorBoard besides scalars."""
