"""What every SQL backend shares: the typed loader of its statement files."""
