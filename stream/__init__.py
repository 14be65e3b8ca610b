"""streamdrift's shared core: event schemas, configuration, Kafka clients, metrics, broker launcher."""
