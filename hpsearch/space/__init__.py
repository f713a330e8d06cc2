"""What a study searches: the hyperparameter catalogue, the study file, drawing a trial's values, and
the plain-data description of the network they make. No TensorFlow here."""
