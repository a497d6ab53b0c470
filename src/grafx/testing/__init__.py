"""Helpers for grafx's tests and benchmarks; the library itself never imports this package.

:mod:`grafx.testing.blackbox`: black-box gradient estimates checked against analytic ones.
"""
