"""How a study searches and when it stops: the Optuna study with its sampler and pruner, compute
budgets, the cost of a network, and the confirm round."""
