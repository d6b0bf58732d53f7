"""File writes that never leave half a file behind (no TensorFlow import)."""
