"""Where the images come from (datasets, .npz files, the validation split) and the checks run on them
before any training (`hpsearch doctor`)."""
