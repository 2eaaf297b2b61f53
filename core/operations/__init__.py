"""The operator side: Operations pages, health and probes, metrics, logging, Sentry and Flower."""
