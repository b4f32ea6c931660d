"""The math of Neural Math Lab: pure functions of tensors (torch, numpy, sympy only)."""
