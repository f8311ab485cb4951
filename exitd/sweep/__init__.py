"""`exitd sweep`: exit plans searched over a parameter space, many price paths and entries.

space (pure): the axes and their exact values; entries: where positions start; cell: one
plan over one file, replayed as `exitd replay` does; aggregate (pure): one row per plan;
runners: this process, a local process pool, or a Dask cluster; journal: resume after an
interruption; output and plot: the table, CSV, Parquet and the picture.
"""
