"""A Django app's joblane identity set-up (docs/how-to/identity.md)."""
