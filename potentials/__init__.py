"""Potentials shipped with attnff: one folder per potential (model.safetensors, card.json, README.md)."""
