"""oslo.i18n integration for nova-powervm."""
import oslo_i18n

_translators = oslo_i18n.TranslatorFactory(domain='nova_powervm')

# The primary translation function using the well-known name "_"
_ = _translators.primary
