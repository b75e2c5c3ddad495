"""Jobs behind the CLI: ``compare-priors`` and the figure registry."""
