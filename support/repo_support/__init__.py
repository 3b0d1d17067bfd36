"""Test support shared by the packages of this repository (never shipped in a wheel)."""
