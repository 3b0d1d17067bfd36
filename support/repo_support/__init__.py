"""Test support shared by the packages, the end-to-end tiers and the benchmarks of this repository (never
shipped in a wheel): upstream fingerprints, import scans, ``wait_until``, namespace "hosts", hand-started pools."""
