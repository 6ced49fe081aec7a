"""The shared Kafka core: transport, apps, the topic and table catalogue, admin, clients, followers, dead letters, sizes, health."""
