"""Model sources (packaged, hub, local, random) resolved to one local checkpoint folder."""
