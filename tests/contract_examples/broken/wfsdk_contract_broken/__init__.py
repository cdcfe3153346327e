"""Deliberately broken plugins, one contract rule each (see tests/contract_examples/README.md)."""
