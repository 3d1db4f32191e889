"""DRF input fields through the one integer parser (``fiko.inputs.parse_int``): JSON integers or
strings of ASCII digits, within the column's range. DRF's own IntegerField takes '١', '+1',
' 1', '1.0' and numbers past bigint (a 500 at the database)."""
from rest_framework import serializers

from fiko.inputs import BIGINT_MAX, parse_int
from fiko.errors import InvalidInput


class StrictIntegerField(serializers.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", BIGINT_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return parse_int(data, self.field_name or "value", minimum=self.min_value, maximum=self.max_value)
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.text) from None


class IdField(StrictIntegerField):
    """An object id: 1 .. bigint max."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)
