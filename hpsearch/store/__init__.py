"""The database: storage URLs, opening Optuna storages, and fast read-only snapshots."""
