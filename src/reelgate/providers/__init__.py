"""The upstream boundary: a small Provider port and its adapters."""
