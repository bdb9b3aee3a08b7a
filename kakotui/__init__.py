"""kakotui: a QC-exception and reshipment log for fulfillment warehouses, kept as YAML in git."""

__version__ = "0.1.0"
