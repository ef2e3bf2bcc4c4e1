"""Data: tokenisers, vocabularies, datasets, synthetic tasks."""
