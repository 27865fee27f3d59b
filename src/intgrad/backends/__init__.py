"""Thin per-framework backends; each imports its framework only when used."""

from intgrad.backends._registry import BACKEND_NAMES, get_backend, select_backend

__all__ = ["BACKEND_NAMES", "get_backend", "select_backend"]
