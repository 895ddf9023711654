"""The benchmark harness behind `make bench` (see bench/README.md). Not a test suite."""
