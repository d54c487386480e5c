"""Datasets: loaders translate native formats into canonical `Record`s."""
