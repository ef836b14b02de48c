"""The database boundary: tables, migrations and stores with named async methods.

Rows never leave this package: every method returns domain objects.
"""
