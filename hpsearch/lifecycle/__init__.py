"""A trial's life beyond one process: stop requests that training honours at safe points, and
retries of interrupted and lost trials. Below training, the search and the engines, which all
stop and retry through it; above the storage, which it retries in."""
