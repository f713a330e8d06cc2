"""How a study searches: the stored study reconciled with its file and flags, the Optuna study
with its sampler and pruner, warm starts from earlier studies, and the confirm round."""
