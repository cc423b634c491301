"""balanced: the van Vreeswijk & Sompolinsky (1996) E/I balanced network on NEST.

Importing this package imports neither NEST, NESTML nor mpi4py: parameters, theory and
analysis work on a laptop without a simulator. The pipeline, one module per stage:

    params   -> derived -> build (NESTML -> NEST module) -> kernel -> network
             -> run (spikes per rank on disk, manifest) -> rundir (read/merge)
             -> balanced.analysis (statistics, figures, report)
"""

__version__ = "0.1.0"
