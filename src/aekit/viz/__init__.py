"""Pictures and reports: image grids, training curves, plots and a self-contained HTML report.

Nothing here needs a display: grids are numpy + Pillow, plots draw on matplotlib's Agg canvas,
and every file is written atomically (``aekit.fileio``).
"""

from .curves import plot_bars, plot_histogram, plot_history, plot_scatter, save_figure
from .grids import comparison_grid, encode_png, image_grid, save_png, to_uint8
from .report import Report
from .series import plot_series_anomalies

__all__ = [
    "Report",
    "comparison_grid",
    "encode_png",
    "image_grid",
    "plot_bars",
    "plot_histogram",
    "plot_history",
    "plot_scatter",
    "plot_series_anomalies",
    "save_figure",
    "save_png",
    "to_uint8",
]
