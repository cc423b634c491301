"""Analysis of run directories: statistics (Elephant), figures and reports. Imports no NEST.

The notebooks that use it live in the repository's top-level ``analysis/`` folder.
"""

# Figure file stems of a report (`balanced analyze` draws all; NumPy-free so the CLI's
# argument parser can name them without importing the analysis stack).
FIGURE_STEMS = ("raster_rate", "distributions", "spectrum", "balance")
# what `balanced run` draws by default: the tutorial's figure
RUN_FIGURES = ("raster_rate",)


def parse_figures(text: str) -> tuple[str, ...]:
    """``"all"``, ``"none"`` or comma-separated stems of :data:`FIGURE_STEMS` -> stems.

    Raises ValueError naming the unknown stem and the allowed values.
    """
    text = text.strip()
    if text == "all":
        return FIGURE_STEMS
    if text in ("none", ""):
        return ()
    stems = tuple(s.strip() for s in text.split(","))
    for stem in stems:
        if stem not in FIGURE_STEMS:
            raise ValueError(
                f"figures: unknown figure {stem!r}; allowed: all, none, or a comma-separated "
                f"list of {', '.join(FIGURE_STEMS)}"
            )
    return stems
