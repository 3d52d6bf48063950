"""The SQL store: models, engine, upserts and the schema check."""
