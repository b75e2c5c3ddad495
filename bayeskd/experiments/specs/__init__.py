"""The experiment specs: one file each (see :mod:`bayeskd.experiments.spec`)."""
