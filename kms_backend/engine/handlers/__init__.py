"""One module per KMIP operation, each exposing ``handle(ctx, request) -> response`` (STYLE rule 3)."""

__all__: list[str] = []
