"""Model tests: the registry-wide contract (test_contract.py) and per-model tests."""
