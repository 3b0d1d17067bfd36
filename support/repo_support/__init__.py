"""Test support shared by the packages, the end-to-end tiers and the benchmarks of this repository (never
shipped in a wheel): upstream fingerprints, import scans, version and errors-namespace checks, ``wait_until``,
namespace "hosts", hand-started pools, the synthetic workflow stages of the e2e tiers and benchmarks."""
