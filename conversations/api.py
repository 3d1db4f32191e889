"""Fiko REST for conversations and their messages. Thin: check the input shape, call one
selector or service, render. Another workspace's conversation answers 404 like a missing one.

- ``GET /api/conversations/``: ConversationFilter as query parameters, paged like the sockets.
- ``GET /api/conversations/{id}/``; ``PATCH`` ``status, priority, assignee, is_archived``
  (publishes ``conversation_updated``).
- ``GET /api/conversations/{id}/messages/?before_id=|after_id=&limit=``: a cursor window of
  at most ``limit`` messages, **oldest first** (as ``recent_messages``); without a cursor the
  newest ``limit``. ``previous`` links to the older window, ``next`` to the newer one.
- ``POST /api/conversations/{id}/messages/``: send a message (conversations.services
  .message_send), like a ``chat_message`` frame; a repeated ``client_message_id`` answers 200
  with the stored message instead of 201.
"""
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from fiko.api_fields import IdField, StrictIntegerField
from fiko.api_input import validated_input
from fiko.errors import NotFound
from fiko.openapi_filters import filterset_parameters
from fiko.pagination import FikoListPagination

from .filters import ConversationFilter
from .models import Conversation, Message
from .selectors import (DEFAULT_MESSAGES, MAX_MESSAGES, conversation_get_for_user, conversation_list,
                        message_window, read_markers_for)
from .serializers import ConversationSerializer, ConversationUpdateSerializer, MessageSerializer, ReferenceSerializer
from .services import conversation_update, message_render, message_send


def _conversation_or_404(user, pk) -> Conversation:
    conversation = conversation_get_for_user(user=user, conversation_id=pk)
    if conversation is None:
        raise NotFound("Conversation not found")
    return conversation


class ConversationViewSet(viewsets.GenericViewSet):
    serializer_class = ConversationSerializer
    pagination_class = FikoListPagination
    filter_backends = []  # filtering is conversations.selectors' job (same FilterSet as the socket)
    queryset = Conversation.objects.none()  # for the schema only

    @extend_schema(parameters=filterset_parameters(ConversationFilter), responses=ConversationSerializer(many=True))
    def list(self, request):
        conversations = conversation_list(user=request.user, filters=request.query_params, request=request)
        page = self.paginate_queryset(conversations)
        return self.get_paginated_response(ConversationSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(ConversationSerializer(_conversation_or_404(request.user, pk)).data)

    @extend_schema(request=ConversationUpdateSerializer, responses=ConversationSerializer)
    def partial_update(self, request, pk=None):
        conversation = _conversation_or_404(request.user, pk)
        data = validated_input(ConversationUpdateSerializer, request.data, partial=True)
        return Response(ConversationSerializer(conversation_update(conversation=conversation, data=data)).data)


class MessageWindowQuerySerializer(serializers.Serializer):
    before_id = IdField(required=False, help_text="Messages older than this id.")
    after_id = StrictIntegerField(required=False, min_value=0, help_text="Messages newer than this id.")
    limit = StrictIntegerField(required=False, min_value=1, max_value=MAX_MESSAGES, default=DEFAULT_MESSAGES)

    def validate(self, attrs):
        if "before_id" in attrs and "after_id" in attrs:
            raise serializers.ValidationError({"before_id": "Give before_id or after_id, not both."})
        return attrs


class MessageCreateSerializer(serializers.Serializer):
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="",
                                    help_text="At most 4096 characters; required for text messages.")
    message_type = serializers.ChoiceField(choices=Message.MessageType.choices, required=False, default="text")
    media_url = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")
    reply_to_message_id = IdField(required=False, allow_null=True, default=None)
    reference = ReferenceSerializer(required=False, allow_null=True, default=None)
    role = serializers.ChoiceField(choices=["support", "marketing"], required=False, default="support")
    client_message_id = serializers.CharField(required=False, allow_blank=True, max_length=64, default="",
                                              help_text="Makes the send idempotent: a repeat returns the stored message.")


MessageWindowSerializer = inline_serializer("MessageWindow", {
    "count": serializers.IntegerField(help_text="Messages in the conversation."),
    "next": serializers.URLField(allow_null=True, help_text="The newer window (after_id), if any."),
    "previous": serializers.URLField(allow_null=True, help_text="The older window (before_id), if any."),
    "has_more": serializers.BooleanField(help_text="More messages beyond this window in the direction asked."),
    "results": MessageSerializer(many=True),
})


class ConversationMessagesView(APIView):
    @extend_schema(parameters=[OpenApiParameter("conversation_id", int, OpenApiParameter.PATH),
                               MessageWindowQuerySerializer],
                   request=None, responses=MessageWindowSerializer, operation_id="conversations_messages_list",
                   description="A window of messages, oldest first. Without before_id/after_id: the newest.")
    def get(self, request, conversation_id):
        conversation = _conversation_or_404(request.user, conversation_id)
        query = validated_input(MessageWindowQuerySerializer,
                                {k: v for k, v in request.query_params.items() if k != "format"})
        rows, has_more = message_window(conversation_id=conversation.pk, **query)
        markers = read_markers_for([conversation.pk])
        results = MessageSerializer(rows, many=True, context={"read_markers": markers}).data
        older = bool(rows) and rows[0].seq > 1
        newer = bool(rows) and rows[-1].seq < conversation.last_seq
        url = request.build_absolute_uri(reverse("conversation-messages", args=[conversation.pk]))
        limit = query["limit"]
        return Response({
            "count": Message.objects.filter(conversation_id=conversation.pk).count(),
            "next": f"{url}?after_id={rows[-1].pk}&limit={limit}" if newer else None,
            "previous": f"{url}?before_id={rows[0].pk}&limit={limit}" if older else None,
            "has_more": has_more,
            "results": results,
        })

    @extend_schema(parameters=[OpenApiParameter("conversation_id", int, OpenApiParameter.PATH)],
                   request=MessageCreateSerializer, responses={201: MessageSerializer, 200: MessageSerializer},
                   operation_id="conversations_messages_create")
    def post(self, request, conversation_id):
        conversation = _conversation_or_404(request.user, conversation_id)
        data = validated_input(MessageCreateSerializer, request.data)
        if data["reference"] is not None:
            data["reference"] = dict(data["reference"])
        message, created = message_send(conversation=conversation, user=request.user, **data)
        return Response(message_render(message), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
