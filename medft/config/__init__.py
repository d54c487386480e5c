"""Config schemas, composition helpers and cross-group validation."""
