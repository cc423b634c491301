"""NESTML model sources, installed as the package ``balanced.models``."""
