"""Scripts that run in the interpreter whose NEST the module is built for.

Each is run by its file path (``python .../in_target/probe.py``), possibly by another
environment's Python (the MPI one), so they import only the standard library, ``nest``
and ``pynestml``, never ``balanced``. Each prints or writes JSON that the caller reads.
"""
