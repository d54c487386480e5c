"""Hydra only instantiates sweepers defined under the `hydra_plugins` namespace; the code lives in medft.sweep."""
