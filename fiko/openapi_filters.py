"""OpenAPI query parameters for a FilterSet that a REST view runs through a selector (the
view does not use DjangoFilterBackend, so drf-spectacular cannot see the filters itself)."""
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from fiko.filtering import ListFilter, MomentFilter, TriStateFilter


def filterset_parameters(filterset_class) -> list[OpenApiParameter]:
    parameters = []
    for name, flt in filterset_class.base_filters.items():
        many = isinstance(flt, ListFilter)
        if isinstance(flt, TriStateFilter):
            description = "true, false or all"
        elif isinstance(flt, MomentFilter):
            description = "YYYY-MM-DD (whole day, inclusive) or an ISO 8601 datetime"
        else:
            description = getattr(flt, "allowed_description", "") or ""
        if many:
            description = "Repeat the parameter or separate values with commas. " + description
        parameters.append(OpenApiParameter(name, OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                                           many=many, explode=True if many else None,
                                           description=description.strip()))
    return parameters
