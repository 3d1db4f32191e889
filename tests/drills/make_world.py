"""``python -m tests.drills.make_world N``: the drills' data in the database DATABASE_URL names
(migrated): workspace ``drill``, staff ``agent0`` .. ``agent<N-1>``, a Telegram channel.
Prints JSON with their ids and access tokens (signed with this process's settings, which the
drill's servers share).

``python -m tests.drills.make_world deactivate USER_ID``: deactivates that user the way an admin
does (``save()``, so the revocation is published) and prints the time the write committed."""
import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fiko.test_settings")
django.setup()

from fiko.tokens import staff_tokens_for  # noqa: E402
from integrations.models import Channel  # noqa: E402
from tests.factories import make_user, make_workspace  # noqa: E402

BOT_TOKEN = "7000000001:AAdrillDrillDrillDrillDrillDrill0001"
SECRET = "drill-webhook-secret-0123456789abcdef"


def main(agents: int) -> dict:
    workspace = make_workspace("drill")
    users = [make_user(f"agent{i}", workspace=workspace, role="owner" if i == 0 else "agent") for i in range(agents)]
    channel = Channel.objects.create(workspace=workspace, platform="telegram", name="@drill_bot",
                                     bot_token=BOT_TOKEN, webhook_secret=SECRET)
    return {"workspace_id": workspace.pk, "channel_id": channel.pk, "secret": SECRET,
            "agents": [{"id": user.pk, "username": user.username, "token": staff_tokens_for(user)["access"]}
                       for user in users]}


def deactivate(user_id: int) -> dict:
    import time

    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=user_id)
    user.is_active = False
    user.save()
    return {"committed_at": time.time()}


if __name__ == "__main__":
    if sys.argv[1] == "deactivate":
        print(json.dumps(deactivate(int(sys.argv[2]))))
    else:
        print(json.dumps(main(int(sys.argv[1]))))
