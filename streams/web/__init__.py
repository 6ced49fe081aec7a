"""The web stage: the dashboard people read, rendered on the server from the sink and Kafka, and who may read the pages."""
