"""Sigap: household registry and social-assistance backend for Kota Ternate."""

__version__ = "0.1.0"
