"""Seed 004's chat REST API (mounted at /api/v1/chat/). Thin views: check the input shape,
call one service or selector, render.

Who may call what:
- ``chats`` (GET list, POST create): staff token (or a staff session); customer tokens are refused.
- ``chats/customer`` (GET list, POST create): customer token only; staff tokens are refused.
- ``chats/{id}/messages`` and ``upload``: either kind of token, on the same URL (seed 004's
  ChatWindow fetches history from one path whoever is logged in). Staff see the chats of
  their workspaces, customers their own; any other chat is 404, exactly like a missing one.
"""
from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.selectors import conversation_get_for_customer, conversation_get_for_user
from conversations.serializers import MessageSerializer
from fiko.authentication import CustomerJWTAuthentication, CustomerUser, StaffOrCustomerJWTAuthentication
from fiko.errors import NotFound
from fiko.pagination import PageRequest

from . import selectors, services, uploads
from .serializers import (
    ChatListQuerySerializer, ChatMessagesPageSerializer, ChatMessagesQuerySerializer, ChatSerializer,
    CustomerChatCreateSerializer, ErrorSerializer, StaffChatCreateSerializer, UploadRequestSerializer,
    UploadResultSerializer,
)

_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input (field errors or a reason)."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, invalid or wrong-kind token."),
}


class IsCustomer(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, CustomerUser)


class IsStaff(BasePermission):
    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated) and not isinstance(request.user, CustomerUser)


def _page(query) -> PageRequest:
    size = query.validated_data["page_size"]
    return PageRequest(offset=(query.validated_data["page"] - 1) * size, limit=size)


def _chat_list_query(request) -> ChatListQuerySerializer:
    query = ChatListQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query


class StaffChatsView(APIView):
    """Staff: the chats of their workspaces; open a chat with a customer."""

    permission_classes = [IsStaff]

    @extend_schema(operation_id="chat_list_staff", parameters=[ChatListQuerySerializer],
                   responses={200: ChatSerializer(many=True), **_ERRORS},
                   description="Plain JSON array (seed 004), newest activity first; `page`/`page_size` "
                               "(at most 100, the default) page through it.")
    def get(self, request):
        query = _chat_list_query(request)
        views = selectors.chat_list_for_user(user=request.user, is_archived=query.archived_flag(), page=_page(query))
        return Response(ChatSerializer(views, many=True).data)

    @extend_schema(operation_id="chat_create_staff", request=StaffChatCreateSerializer,
                   responses={201: ChatSerializer, **_ERRORS,
                              404: OpenApiResponse(ErrorSerializer, description="Customer not found.")})
    def post(self, request):
        data = StaffChatCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.chat_start_by_staff(user=request.user, **data.validated_data)
        view = selectors.chat_view_for(conversation.pk, side=selectors.USER)
        return Response(ChatSerializer(view).data, status=status.HTTP_201_CREATED)


class CustomerChatsView(APIView):
    """A logged-in customer: their own chats; open a chat with the business."""

    authentication_classes = [CustomerJWTAuthentication]
    permission_classes = [IsCustomer]

    @extend_schema(operation_id="chat_list_customer", parameters=[ChatListQuerySerializer],
                   responses={200: ChatSerializer(many=True), **_ERRORS},
                   description="The customer's own chats, as a plain JSON array (seed 004).")
    def get(self, request):
        query = _chat_list_query(request)
        views = selectors.chat_list_for_customer(customer=request.user.customer, is_archived=query.archived_flag(),
                                                 page=_page(query))
        return Response(ChatSerializer(views, many=True).data)

    @extend_schema(operation_id="chat_create_customer", request=CustomerChatCreateSerializer,
                   responses={201: ChatSerializer, **_ERRORS})
    def post(self, request):
        data = CustomerChatCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.chat_start_by_customer(customer=request.user.customer, **data.validated_data)
        view = selectors.chat_view_for(conversation.pk, side=selectors.CUSTOMER)
        return Response(ChatSerializer(view).data, status=status.HTTP_201_CREATED)


class ChatMessagesView(APIView):
    """History of one chat, newest first, for staff (their workspaces) or the customer (their own)."""

    authentication_classes = [StaffOrCustomerJWTAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(operation_id="chat_messages",
                   parameters=[OpenApiParameter("chat_id", int, OpenApiParameter.PATH), ChatMessagesQuerySerializer],
                   responses={200: ChatMessagesPageSerializer, **_ERRORS,
                              404: OpenApiResponse(ErrorSerializer, description="Chat not found.")})
    def get(self, request, chat_id: str):
        query = ChatMessagesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        if isinstance(request.user, CustomerUser):
            conversation = conversation_get_for_customer(customer=request.user.customer, conversation_id=chat_id)
        else:
            conversation = conversation_get_for_user(user=request.user, conversation_id=chat_id)
        if conversation is None:
            raise NotFound("Chat not found")
        page = _page(query)
        messages, markers, total = selectors.chat_message_page(conversation=conversation, page=page)
        return Response({
            "messages": MessageSerializer(messages, many=True, context={"read_markers": markers}).data,
            "total": total, "page": query.validated_data["page"], "page_size": page.limit,
            "has_more": page.offset + len(messages) < total,
        })


class ChatUploadView(APIView):
    """A file for a chat message (either token kind). Answer ``file_url`` goes in
    ``send_message.media_url``."""

    authentication_classes = [StaffOrCustomerJWTAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    @extend_schema(operation_id="chat_upload", request={"multipart/form-data": UploadRequestSerializer},
                   responses={201: UploadResultSerializer, **_ERRORS,
                              413: OpenApiResponse(ErrorSerializer, description="Over UPLOAD_MAX_BYTES."),
                              415: OpenApiResponse(ErrorSerializer, description="Not an accepted file type.")})
    def post(self, request):
        uploads.refuse_declared_oversize(request.META)
        handler = uploads.SizeLimitedUploadHandler(request._request, limit=settings.UPLOAD_MAX_BYTES)
        request._request.upload_handlers = [handler]
        upload = request.FILES.get("file")
        if handler.exceeded:
            raise uploads.too_large()
        result = uploads.upload_store(upload=upload, client_content_type=getattr(upload, "content_type", "") or "")
        return Response(UploadResultSerializer(result).data, status=status.HTTP_201_CREATED)
