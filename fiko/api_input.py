"""Request bodies of the REST views: an object with known fields only, validated by a DRF
serializer. Unknown fields are a 400 naming them (a typo must not be silently ignored)."""
from fiko.errors import ErrorCode, InvalidInput
from fiko.inputs import describe


def validated_input(serializer_class, data, *, partial: bool = False, context=None) -> dict:
    if not hasattr(data, "keys"):
        raise InvalidInput("Request body must be a JSON object", ErrorCode.INVALID_INPUT)
    serializer = serializer_class(data=data, partial=partial, context=context or {})
    unknown = sorted(set(data.keys()) - {name for name, f in serializer.fields.items() if not f.read_only})
    if unknown:
        allowed = ", ".join(name for name, f in serializer.fields.items() if not f.read_only)
        raise InvalidInput(f"Unknown field '{describe(unknown[0])}'. Allowed fields: {allowed}", ErrorCode.INVALID_INPUT,
                           field=describe(unknown[0]))
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
