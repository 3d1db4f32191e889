"""Fiko's side of a benchmark run: one workspace ``bench``, its owner and agents, web
customers and one conversation each, and a staff access token per user, written as JSON.

Everything goes through the project's own command and services (``create_workspace``,
``staff_user_ensure``/``membership_ensure``, ``customer_create_for_web``,
``conversation_create``, ``staff_tokens_for``; for W4 ``channel_create``,
``customer_upsert_from_platform``, ``conversation_get_or_open_for_channel``), against the database in ``DATABASE_URL``.
A previous ``bench`` workspace is deleted first, so every run starts from the same state.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fiko_bench SECRET_KEY=... \
        .venv/bin/python bench/prepare.py --conversations 101 --agents 10 --out plan.json
"""
import argparse
import json
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fiko.settings")

SLUG = "bench"
TELEGRAM_ID_BASE = 7_000_000  # Telegram user ids of the W4 customers: base + 1 .. base + N


def main() -> None:
    parser = argparse.ArgumentParser(description="Create the benchmark workspace and print its plan.")
    parser.add_argument("--conversations", type=int, required=True)
    parser.add_argument("--agents", type=int, default=10, help="staff users, the owner included")
    parser.add_argument("--telegram-customers", type=int, default=0,
                        help="W4: a Telegram channel and this many Telegram customers with an open conversation")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    from conversations.services import conversation_create, conversation_get_or_open_for_channel
    from customers.services import customer_create_for_web, customer_upsert_from_platform
    from integrations.models import Channel
    from integrations.services import channel_create
    from fiko.tokens import staff_tokens_for
    from workspaces.models import Membership, Workspace
    from workspaces.services import membership_ensure, staff_user_ensure

    Workspace.objects.filter(slug=SLUG).delete()
    password = secrets.token_urlsafe(16)
    call_command("create_workspace", SLUG, owner="bench-owner", password=password, name="Bench", stdout=open(os.devnull, "w"))
    workspace = Workspace.objects.get(slug=SLUG)
    users = [Membership.objects.get(workspace=workspace, role=Membership.Role.OWNER).user]
    for n in range(1, args.agents):
        user, _ = staff_user_ensure(username=f"bench-agent-{n}", password=password)
        membership_ensure(workspace=workspace, user=user, role=Membership.Role.AGENT)
        users.append(user)

    conversations = []
    with transaction.atomic():
        for n in range(1, args.conversations + 1):
            customer = customer_create_for_web(workspace=workspace, first_name="Bench", last_name=f"Customer {n}")
            conversations.append(conversation_create(workspace=workspace, customer=customer).pk)

    plan = {
        "workspace_id": workspace.pk,
        "conversations": conversations,
        "tokens": [staff_tokens_for(user)["access"] for user in users],
    }
    if args.telegram_customers:
        # Created inactive, then switched on: an active Telegram channel registers its webhook
        # with Telegram (setWebhook), and the benchmark runs offline.
        channel, _ = channel_create(workspace_id=workspace.pk, data={
            "platform": Channel.Platform.TELEGRAM, "name": "Bench bot", "bot_token": "0:bench-offline",
            "is_active": False})
        Channel.objects.filter(pk=channel.pk).update(is_active=True)
        with transaction.atomic():
            for n in range(1, args.telegram_customers + 1):
                customer, _ = customer_upsert_from_platform(
                    workspace=workspace, source="telegram", external_id=str(TELEGRAM_ID_BASE + n),
                    first_name="Tg", last_name=f"Customer {n}")
                conversation_get_or_open_for_channel(customer=customer, channel=channel)
        plan["telegram"] = {"channel_id": channel.pk, "secret": channel.webhook_secret,
                            "id_base": TELEGRAM_ID_BASE, "customers": args.telegram_customers}
    Path(args.out).write_text(json.dumps(plan))
    print(f"prepare: workspace {workspace.pk}, {len(users)} staff users, {len(conversations)} conversations")


if __name__ == "__main__":
    main()
