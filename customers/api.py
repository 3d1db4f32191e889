"""Fiko REST for customers and tags. Thin: check the input shape, call one selector or
service, render. Another workspace's customer or tag answers 404 exactly like a missing one.

- ``GET /api/customers/``: CustomerFilter as query parameters (lists repeated or
  comma-separated), paged by ``limit``/``offset`` or ``page``/``page_size``.
- ``GET /api/customers/{id}/``; ``PATCH`` ``first_name, last_name, email, phone, tag_ids``
  (publishes ``customer_updated``).
- ``/api/tags/``: list, create (``workspace`` id required only for a user of several
  workspaces), retrieve, update, delete. Names are unique per workspace.
"""
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from fiko.api_fields import IdField
from fiko.api_input import validated_input
from fiko.errors import NotFound
from fiko.inputs import id_or_none
from fiko.openapi_filters import filterset_parameters
from fiko.pagination import FikoListPagination

from .filters import CustomerFilter
from .models import Customer, Tag
from .selectors import customer_get_for_user, customer_list, tag_list
from .serializers import CustomerSerializer, CustomerUpdateSerializer, TagSerializer
from .services import customer_update
from .tag_services import tag_create, tag_delete, tag_update

HEX_COLOR = r"^#[0-9a-fA-F]{3}([0-9a-fA-F]{3})?$"


class TagInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    color = serializers.RegexField(HEX_COLOR, required=False,
                                   error_messages={"invalid": "Color must be a hex color like #ff8800."})

    def validate_name(self, value):
        value = value.strip()
        if not value:
            raise serializers.ValidationError("Tag name cannot be empty.")
        return value


class TagCreateSerializer(TagInputSerializer):
    workspace = IdField(required=False,
                                         help_text="Workspace id; required only if you belong to several.")


def _customer_or_404(user, pk) -> Customer:
    customer = customer_get_for_user(user=user, customer_id=pk)
    if customer is None:
        raise NotFound("Customer not found")
    return customer


def _tag_or_404(user, pk) -> Tag:
    tag_id = id_or_none(pk)
    tag = tag_list(user=user).filter(pk=tag_id).first() if tag_id is not None else None
    if tag is None:
        raise NotFound("Tag not found")
    return tag


class CustomerViewSet(viewsets.GenericViewSet):
    serializer_class = CustomerSerializer
    pagination_class = FikoListPagination
    filter_backends = []  # filtering is customers.selectors' job (the same FilterSet as /ws/customers/)
    queryset = Customer.objects.none()  # for the schema only

    @extend_schema(parameters=filterset_parameters(CustomerFilter), responses=CustomerSerializer(many=True))
    def list(self, request):
        page = self.paginate_queryset(customer_list(user=request.user, filters=request.query_params))
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(CustomerSerializer(_customer_or_404(request.user, pk)).data)

    @extend_schema(request=CustomerUpdateSerializer, responses=CustomerSerializer)
    def partial_update(self, request, pk=None):
        customer = _customer_or_404(request.user, pk)
        data = validated_input(CustomerUpdateSerializer, request.data, partial=True)
        return Response(CustomerSerializer(customer_update(customer=customer, data=data)).data)


class TagViewSet(viewsets.GenericViewSet):
    serializer_class = TagSerializer
    pagination_class = FikoListPagination
    filter_backends = []
    queryset = Tag.objects.none()  # for the schema only

    @extend_schema(responses=TagSerializer(many=True))
    def list(self, request):
        page = self.paginate_queryset(tag_list(user=request.user))
        return self.get_paginated_response(TagSerializer(page, many=True).data)

    @extend_schema(request=TagCreateSerializer, responses={201: TagSerializer})
    def create(self, request):
        data = validated_input(TagCreateSerializer, request.data)
        tag = tag_create(user=request.user, workspace_id=data.get("workspace"), name=data["name"],
                         color=data.get("color"))
        return Response(TagSerializer(tag).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        return Response(TagSerializer(_tag_or_404(request.user, pk)).data)

    @extend_schema(request=TagInputSerializer, responses=TagSerializer)
    def update(self, request, pk=None):
        return self._update(request, pk, partial=False)

    @extend_schema(request=TagInputSerializer, responses=TagSerializer)
    def partial_update(self, request, pk=None):
        return self._update(request, pk, partial=True)

    def _update(self, request, pk, *, partial):
        tag = _tag_or_404(request.user, pk)
        data = validated_input(TagInputSerializer, request.data, partial=partial)
        return Response(TagSerializer(tag_update(tag=tag, data=data)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        tag_delete(tag=_tag_or_404(request.user, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)
