"""The monitor service: Kafka in, per-model monitors, drift alerts and metrics out."""
