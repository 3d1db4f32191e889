"""/api/channels/ — owners of a workspace connect its Telegram bot or Instagram account.
Thin views: the selectors check ownership, the services write and talk to the platform."""
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from fiko.api_input import validated_input
from fiko.pagination import FikoListPagination

from . import platforms
from .selectors import channel_get_for_owner, channel_list_for_owner, workspace_for_new_channel
from .serializers import ChannelAnswerSerializer, ChannelSerializer, ChannelWriteSerializer
from .services import channel_create, channel_disable, channel_update


def _answer(channel, report, code=status.HTTP_200_OK) -> Response:
    data = ChannelSerializer(channel).data
    if platforms.adapter_for(channel.platform).reports_webhook:
        data["set_webhook"] = report  # e.g. Telegram's answer to setWebhook/deleteWebhook (None: not called)
    return Response(data, status=code)


class ChannelListView(APIView):
    pagination_class = FikoListPagination

    @extend_schema(responses=ChannelSerializer(many=True), parameters=None)
    def get(self, request):
        paginator = FikoListPagination()
        page = paginator.paginate_queryset(channel_list_for_owner(user=request.user), request, view=self)
        return paginator.get_paginated_response(ChannelSerializer(page, many=True).data)

    @extend_schema(request=ChannelWriteSerializer, responses={201: ChannelAnswerSerializer})
    def post(self, request):
        data = validated_input(ChannelWriteSerializer, request.data)
        workspace_id = workspace_for_new_channel(user=request.user, workspace_id=data.get("workspace"))
        channel, report = channel_create(workspace_id=workspace_id, data=data)
        return _answer(channel, report, status.HTTP_201_CREATED)


class ChannelDetailView(APIView):
    @extend_schema(responses=ChannelAnswerSerializer)
    def get(self, request, channel_id):
        return _answer(channel_get_for_owner(user=request.user, channel_id=channel_id), None)

    @extend_schema(request=ChannelWriteSerializer, responses=ChannelAnswerSerializer)
    def patch(self, request, channel_id):
        channel = channel_get_for_owner(user=request.user, channel_id=channel_id)
        if not hasattr(request.data, "keys"):
            return Response({"detail": "Request body must be a JSON object", "code": "invalid_input"}, status=400)
        serializer = ChannelWriteSerializer(channel, data=request.data, partial=True)
        unknown = sorted(set(request.data.keys()) - set(serializer.fields))
        if unknown:
            return Response({"detail": f"Unknown field '{unknown[0]}'", "code": "invalid_input", "field": unknown[0]},
                            status=400)
        serializer.is_valid(raise_exception=True)
        channel, report = channel_update(channel=channel, data=serializer.validated_data)
        return _answer(channel, report)

    @extend_schema(responses={204: None})
    def delete(self, request, channel_id):
        channel_disable(channel=channel_get_for_owner(user=request.user, channel_id=channel_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
