"""Service layer: orchestrates the pure rules (`auth`) and the stores; raises domain errors."""
