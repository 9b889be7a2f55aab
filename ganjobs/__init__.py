"""ganjobs: GAN scenario sets for stress testing."""
