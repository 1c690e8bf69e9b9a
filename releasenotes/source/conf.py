"""Sphinx configuration for the nova-powervm release notes."""
project = 'nova-powervm Release Notes'
copyright = '2026, nova-powervm developers'
extensions = ['reno.sphinxext']
source_suffix = '.rst'
master_doc = 'index'
exclude_patterns = ['_build']
html_theme = 'alabaster'
html_static_path = ['_static']
