"""What training costs: compute budgets (`2h`, `300epochs`) and what a study has spent of one, and
what a network costs per epoch. Below the storage, which reports a study's budget use."""
