"""Analysis of run directories: statistics (Elephant), figures and reports. Imports no NEST.

Installed as ``balanced.analysis`` (the top-level folder ``analysis/`` of the repository).
"""
