"""How a study searches: the Optuna study with its sampler and pruner, warm starts from earlier
studies, and the confirm round."""
