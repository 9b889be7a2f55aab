"""Synthetic tables: borrower and loan books learnt by a conditional tabular GAN.

One concept per module: the schema of a table and its checks, the bundled credit tables,
the column transforms, the conditional sampler, the networks, the training task, the model
folder, generation and the evaluation against baselines.
"""
