"""Sync between sites through git: remotes policy, field-by-field record merge, integration, bundles."""
