"""'Did you mean' for parameter keys: misspellings and the names a NEST user types.

The parameters are named after the BrainPy tutorial's symbols (:mod:`balanced.params`);
a NEST user writes ``tau_m``, ``E_L``, ``I_e`` or ``C_m``. :data:`NEST_NAMES` maps those
to the key used here with the unit mapping of :mod:`balanced.derived` (``C_m = tau``, so
1 pA moves the membrane potential by 1 mV); :func:`suggestion` adds close spellings.
Pure: no imports beyond the standard library.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# NEST (or PyNEST example) name -> (key here or None, explanation)
NEST_NAMES: dict[str, tuple[str | None, str]] = {
    "tau_m": ("tau", "NEST's membrane time constant tau_m is 'tau' here (ms)"),
    "E_L": ("V_rest", "NEST's leak reversal potential E_L is 'V_rest' here (mV)"),
    "I_e": (
        "Ib",
        "NEST's constant input current I_e is 'Ib' here, in pA = mV (tutorial form; in the scaled "
        "form the drive is sqrt(K) i_E and sqrt(K) i_I)",
    ),
    "C_m": (
        None,
        "C_m is not a parameter: it is set equal to tau (C_m in pF = tau in ms), so the membrane "
        "resistance is 1 GOhm and a current of x pA shifts V_m by x mV; give currents (Ib, J_E, J_I) "
        "in mV = pA and the time constant as 'tau'",
    ),
    "tau_syn_ex": ("tau_s", "NEST's tau_syn_ex is 'tau_s' here, one synaptic time constant for E and I (ms)"),
    "tau_syn_in": ("tau_s", "NEST's tau_syn_in is 'tau_s' here, one synaptic time constant for E and I (ms)"),
    "tau_syn": ("tau_s", "the synaptic time constant is 'tau_s' here, for E and I alike (ms)"),
    "V_m": (
        "V_init_mean",
        "initial membrane potentials are drawn from a normal distribution: 'V_init_mean' and 'V_init_sd' (mV)",
    ),
    "resolution": ("dt", "NEST's kernel resolution is 'dt' here (ms)"),
    "simtime": ("T", "the simulated time is 'T' here (ms)"),
    "sim_time": ("T", "the simulated time is 'T' here (ms)"),
    "t_sim": ("T", "the simulated time is 'T' here (ms)"),
    "rng_seed": ("seed", "NEST's rng_seed is 'seed' here"),
    "d": ("delay", "the synaptic delay is 'delay' here (ms)"),
    "weight": (
        "J_E",
        "synaptic weights are 'J_E' and 'J_I' (tutorial form, pA = mV) or j_EE, j_EI, j_IE, j_II (scaled form)",
    ),
    "J": ("J_E", "the excitatory weight is 'J_E' and the inhibitory one 'J_I' (negative), in pA = mV"),
    "g": ("J_I", "there is no ratio g: give the inhibitory weight 'J_I' itself (negative, pA = mV)"),
    "indegree": ("K", "the in-degree is 'K' (scaled form) or p N_E, p N_I (tutorial form, 'p')"),
    "CE": ("p", "in-degrees are p N_E and p N_I (tutorial form, 'p') or 'K' (scaled form)"),
    "CI": ("p", "in-degrees are p N_E and p N_I (tutorial form, 'p') or 'K' (scaled form)"),
    "NE": ("N_E", "the number of excitatory neurons is 'N_E'"),
    "NI": ("N_I", "the number of inhibitory neurons is 'N_I'"),
    "rate": ("nu_ext", "the rate of the independent Poisson input is 'nu_ext' (Hz), its weight 'J_ext'"),
    "local_num_threads": (None, "threads are not a model parameter: pass --threads N to `balanced run`"),
    "total_num_virtual_procs": (None, "threads are not a model parameter: pass --threads N to `balanced run`"),
}


def suggestion(key: str, known: Iterable[str]) -> str:
    """A hint for the unknown ``key`` (empty if none): the NEST name's counterpart with its
    unit, or up to three close spellings among ``known``."""
    known = list(known)
    if key in NEST_NAMES:
        target, why = NEST_NAMES[key]
        return f"did you mean {target!r}? {why}" if target else why
    by_lower = {k.lower(): k for k in known}
    if key.lower() in by_lower:
        return f"did you mean {by_lower[key.lower()]!r}? (keys are case-sensitive)"
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.75)
    if not close:
        lower = difflib.get_close_matches(key.lower(), list(by_lower), n=3, cutoff=0.75)
        close = [by_lower[k] for k in lower]
    if not close:
        return ""
    return "did you mean " + " or ".join(repr(k) for k in close) + "?"


def hints(keys: Iterable[str], known: Iterable[str]) -> str:
    """``" ('tau_m': did you mean 'tau'? ...)"`` for the keys that have a hint, else ``""``."""
    known = list(known)
    parts = [f"{k!r}: {s}" for k in keys if (s := suggestion(k, known))]
    return f" ({'; '.join(parts)})" if parts else ""
