"""Text nets: sentence encoders and decoders, and decoding through the decoder interface."""
