"""scripts/ws_demo.py against a real Daphne serving this test's database: it logs in, prints
the list and chat frames, and its --send message is stored and shown back."""
import subprocess
import sys

import pytest
from django.conf import settings

from conversations.models import Message
from conversations.services import message_receive
from tests.live_servers import APPLICATION, Server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def daphne(django_db_setup, tmp_path):
    server = Server("daphne", APPLICATION, tmp_path)
    try:
        yield server
    finally:
        server.stop()


def run_demo(*args, timeout=60):
    return subprocess.run([sys.executable, "scripts/ws_demo.py", *args], cwd=settings.BASE_DIR,
                          capture_output=True, text=True, timeout=timeout)


def test_demo_logs_in_watches_and_sends(daphne, staff, customer, conversation):
    message_receive(conversation=conversation, customer=customer, content="Where is my parcel?")
    result = run_demo("--base", f"http://127.0.0.1:{daphne.port}", "--username", "alice", "--password", "pw-12345",
                      "--customers", "--chat", str(conversation.pk), "--send", "On its way", "--seconds", "4")
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert "conversations_list" in out and "1 conversations: #%d" % conversation.pk in out
    assert "customers_list" in out and "filter_options" in out
    assert "recent_messages" in out and "Where is my parcel?" in out
    assert "chat_message" in out and "'On its way'" in out
    stored = Message.objects.get(conversation=conversation, seq=2)
    assert (stored.content, stored.sender_user_id) == ("On its way", staff.pk)
    assert "token=" not in daphne.log()  # the token travelled as a subprotocol, not in the URL


def test_demo_reports_a_wrong_password_and_a_missing_conversation(daphne, staff):
    result = run_demo("--base", f"http://127.0.0.1:{daphne.port}", "--username", "alice", "--password", "nope")
    assert result.returncode != 0 and "login failed: HTTP 401" in result.stderr
    from tests.sockets import staff_token

    result = run_demo("--base", f"http://127.0.0.1:{daphne.port}", "--token", staff_token(staff),
                      "--no-conversations", "--chat", "999999", "--seconds", "4")
    assert "closed: 4404" in result.stdout, result.stdout + result.stderr


def test_demo_cannot_reach_the_server():
    result = run_demo("--base", "http://127.0.0.1:9", "--seconds", "1")
    assert result.returncode != 0 and "cannot reach" in result.stderr
