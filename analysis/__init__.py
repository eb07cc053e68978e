"""One module per paper table or figure; each reads stage outputs only (never checkpoints)."""
