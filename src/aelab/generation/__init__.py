"""Generation tasks (reconstruct, sample, interpolate, denoise, upscale) per modality, behind generate.py."""
