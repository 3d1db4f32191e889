#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fiko.settings")
    from fiko import dev_env

    dev_env.load()  # what `make run` wrote to .env.dev (fiko/dev_env.py); the environment wins
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
