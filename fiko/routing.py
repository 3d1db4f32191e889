from django.urls import path, re_path

from chat.consumers import ChatConsumer
from chat.multiplex_consumers import CustomerChatSocketConsumer, StaffChatSocketConsumer
from conversations.consumers import ConversationListConsumer
from customers.consumers import CustomerListConsumer

websocket_urlpatterns = [
    path("ws/customers/", CustomerListConsumer.as_asgi()),
    path("ws/conversations/", ConversationListConsumer.as_asgi()),
    re_path(r"^ws/chat/(?P<conversation_id>[^/]+)/$", ChatConsumer.as_asgi()),
    path("api/v1/chat/ws/chat/user", StaffChatSocketConsumer.as_asgi()),
    path("api/v1/chat/ws/chat/customer", CustomerChatSocketConsumer.as_asgi()),
]

# Each consumer class knows the route it serves: the ``route`` label of the socket metrics
# (fiko/metrics.py reads it from the socket, so it needs no import of the consumers).
for _pattern in websocket_urlpatterns:
    _pattern.callback.consumer_class.route = str(_pattern.pattern)
