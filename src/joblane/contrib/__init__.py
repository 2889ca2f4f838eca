"""Adapters to frameworks: each a thin layer over the client's build-then-store."""
