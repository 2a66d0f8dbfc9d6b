"""Customer master data management on a Delta Lake medallion (bronze -> silver -> gold) with PySpark."""

__version__ = "0.1.0"
