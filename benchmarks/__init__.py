"""Benchmarks of mailbot: figures next to the limits they are measured against."""
