"""Durable intent: fleets and clusters kept in the store, validated and versioned."""
