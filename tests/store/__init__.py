"""Tests of kms_backend.store."""
