"""``python -m kms_backend.kmip._codegen``: regenerate every generated module."""

from . import registry_gen

registry_gen.main()
