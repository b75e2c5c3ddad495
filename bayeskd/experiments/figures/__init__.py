"""The paper figures behind ``bayeskd reproduce``: one module per figure (``INFO``, ``SIZES``,
``run``), shared pieces in ``_base``. The registry is :mod:`bayeskd.experiments.registry`."""
