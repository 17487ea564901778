"""Closed-form theory (placeholder until the derivations land; see issue 4)."""
