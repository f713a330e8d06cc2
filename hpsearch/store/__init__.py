"""The database: storage URLs, opening Optuna storages, fast read-only snapshots, and the names of
what each study and trial records."""
