"""Arrays to pictures: attribution masks, overlays and the tutorial's figures (NumPy/matplotlib)."""
