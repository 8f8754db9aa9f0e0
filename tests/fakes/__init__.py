"""Fakes of the product's seams, shared by every test folder (importable as ``fakes``:
pytest puts tests/ on ``sys.path`` for tests/conftest.py). mypy checks them against the
seams' Protocols (tests/contract/test_typecheck.py)."""
