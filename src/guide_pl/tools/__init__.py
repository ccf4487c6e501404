"""Tools: generator and step benchmarks (`make bench`), judge calibration. Run with `python -m guide_pl.tools.NAME`."""
