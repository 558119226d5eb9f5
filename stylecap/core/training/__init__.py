"""One training engine for every trainer: the loop, precision, checkpoints, resume, logging, DDP.

A trainer plugin (``stylecap.Trainer``) supplies models, optimisers, data and a step function;
``engine.Engine`` does everything else. See docs/training.md.
"""
