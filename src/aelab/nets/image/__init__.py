"""Image nets: encoder/decoder pairs that any image objective wraps."""
