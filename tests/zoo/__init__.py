"""Implementations for the suite's own tests: broken ones (each must be caught) and correct ones."""
