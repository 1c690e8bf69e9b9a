"""Sphinx configuration for nova-powervm."""
project = 'nova-powervm'
copyright = '2026, nova-powervm developers'
extensions = [
    'oslo_config.sphinxext',
]
source_suffix = '.rst'
master_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'sphinx'
html_theme = 'alabaster'
html_static_path = ['_static']
