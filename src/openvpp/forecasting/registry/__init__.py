"""The model registry: models, immutable versions with artifacts, training and evaluation as
jobs, and predictions stored with the time they were issued."""
