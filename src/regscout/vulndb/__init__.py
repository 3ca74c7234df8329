"""Vulnerability data: per-ecosystem version ordering (``versions``) and OSV ``affected[]`` evaluation (``ranges``)."""
