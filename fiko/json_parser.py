"""DRF's JSON body parser, through the one JSON parser (``fiko.inputs.loads_json``): deep
nesting, lone surrogates and NULs are a 400 ``invalid_json`` with a reason, never a 5xx."""
from django.conf import settings
from rest_framework.parsers import JSONParser

from fiko.inputs import loads_json


class FikoJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        data = stream.read() if stream is not None else b""
        if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            data = data.decode(encoding, errors="replace")
        return loads_json(data)
