"""``python -m kms_backend.kmip._codegen``: regenerate every generated module."""

from . import registry_gen, schema_gen

registry_gen.main()
schema_gen.main()
