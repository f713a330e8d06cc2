"""Training one trial: the Keras model, the training recipe, the input pipeline, the objective with
its pruning, checkpoints and export. The only package that imports TensorFlow."""
