"""Tools for tests and benchmarks: synthetic labelled videos. Not used by the service."""
