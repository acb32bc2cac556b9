"""Discord's request validation, the parts a news bot can trip over.

Errors use Discord's "Invalid Form Body" shape (code 50035) so discord.py raises ``HTTPException``
with the same text it would get from Discord::

    {"code": 50035, "message": "Invalid Form Body",
     "errors": {"embeds": {"0": {"description": {"_errors": [
         {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 4096 or fewer in length."}]}}}}}
"""

from __future__ import annotations

import re
from typing import Any

JSON = dict[str, Any]


class ApiError(Exception):
    """Raised by handlers; becomes a Discord-shaped error response."""

    def __init__(self, status: int, code: int, message: str, errors: JSON | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


class FormErrors:
    def __init__(self) -> None:
        self.errors: JSON = {}

    def add(self, path: list[str | int], code: str, message: str) -> None:
        node = self.errors
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_len(self, path: list[str | int], value: object, limit: int) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def raise_if_any(self) -> None:
        if self.errors:
            raise ApiError(400, 50035, "Invalid Form Body", self.errors)


URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


def _check_url(
    errs: FormErrors, path: list[str | int], value: object, *, images: bool = False
) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not (
        URL_RE.match(value) or (images and value.startswith("attachment://"))
    ):
        errs.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")
    elif len(value) > 2048:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", "Must be 2048 or fewer in length.")


def embed_text_length(embed: JSON) -> int:
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for f in embed.get("fields") or []:
        total += len(f.get("name") or "") + len(f.get("value") or "")
    return total


def validate_embeds(errs: FormErrors, embeds: object, prefix: list[str | int]) -> None:
    if embeds is None:
        return
    if not isinstance(embeds, list):
        errs.add(prefix, "LIST_TYPE_CONVERT", "Must be an array.")
        return
    if len(embeds) > 10:
        errs.add(prefix, "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, e in enumerate(embeds):
        p: list[str | int] = [*prefix, i]
        if not isinstance(e, dict):
            errs.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        total += embed_text_length(e)
        errs.max_len([*p, "title"], e.get("title"), 256)
        errs.max_len([*p, "description"], e.get("description"), 4096)
        _check_url(errs, [*p, "url"], e.get("url"))
        color = e.get("color")
        if color is not None and not (isinstance(color, int) and 0 <= color <= 0xFFFFFF):
            errs.add(
                [*p, "color"],
                "NUMBER_TYPE_MAX",
                "int value should be less than or equal to 16777215.",
            )
        fields = e.get("fields") or []
        if len(fields) > 25:
            errs.add([*p, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, f in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                value = f.get(key)
                if not isinstance(value, str) or not value.strip():
                    errs.add([*p, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required")
                else:
                    errs.max_len([*p, "fields", j, key], value, limit)
        footer = e.get("footer")
        if footer is not None:
            errs.max_len([*p, "footer", "text"], footer.get("text"), 2048)
            _check_url(errs, [*p, "footer", "icon_url"], footer.get("icon_url"), images=True)
        author = e.get("author")
        if author is not None:
            errs.max_len([*p, "author", "name"], author.get("name"), 256)
            _check_url(errs, [*p, "author", "url"], author.get("url"))
            _check_url(errs, [*p, "author", "icon_url"], author.get("icon_url"), images=True)
        for key in ("thumbnail", "image"):
            if e.get(key) is not None:
                _check_url(errs, [*p, key, "url"], (e.get(key) or {}).get("url"), images=True)
        ts = e.get("timestamp")
        if ts is not None and not (isinstance(ts, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", ts)):
            errs.add([*p, "timestamp"], "DATE_TYPE_PARSE", "Could not parse timestamp.")
    if total > 6000:
        errs.add(prefix, "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")


def validate_allowed_mentions(errs: FormErrors, am: object) -> None:
    if am is None:
        return
    if not isinstance(am, dict):
        errs.add(
            ["allowed_mentions"], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
        )
        return
    parse = am.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and am.get(kind):
            errs.add(
                ["allowed_mentions"],
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
        if len(am.get(kind) or []) > 100:
            errs.add(
                ["allowed_mentions", kind],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 100 or fewer in length.",
            )


def validate_message(body: JSON, *, require_content: bool = True, has_files: bool = False) -> None:
    """Limits on content, embeds, nonce, allowed_mentions of a create."""
    errs = FormErrors()
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        errs.add(["content"], "STRING_TYPE_CONVERT", "Could not interpret value as string.")
    errs.max_len(["content"], content, 2000)
    validate_embeds(errs, body.get("embeds"), ["embeds"])
    nonce = body.get("nonce")
    if nonce is not None:
        if isinstance(nonce, str) and len(nonce) > 25:
            errs.add(["nonce"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        elif isinstance(nonce, int) and not 0 <= nonce < 2**63:
            errs.add(["nonce"], "NUMBER_TYPE_MAX", "Must be a valid snowflake.")
    validate_allowed_mentions(errs, body.get("allowed_mentions"))
    components = body.get("components") or []
    if len(components) > 5 and not (int(body.get("flags") or 0) & (1 << 15)):
        errs.add(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
    errs.raise_if_any()
    if require_content and not has_message_body(body, has_files=has_files):
        raise ApiError(400, 50006, "Cannot send an empty message")


def has_message_body(body: JSON, *, has_files: bool = False) -> bool:
    return bool(
        body.get("content")
        or body.get("embeds")
        or body.get("components")
        or body.get("sticker_ids")
        or body.get("poll")
        or has_files
    )


# -- application commands ------------------------------------------------------------------
NAME_RE = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)


def _validate_name_desc(
    errs: FormErrors, p: list[str | int], item: JSON, *, chat_input: bool
) -> None:
    name = item.get("name")
    if (
        not isinstance(name, str)
        or not NAME_RE.match(name)
        or (chat_input and name != name.lower())
    ):
        errs.add([*p, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    desc = item.get("description")
    if chat_input:
        if not isinstance(desc, str) or not 1 <= len(desc) <= 100:
            errs.add(
                [*p, "description"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
            )
    elif desc:
        errs.add(
            [*p, "description"], "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION", "Must be empty."
        )


def _validate_options(
    errs: FormErrors, p: list[str | int], options: list[JSON], depth: int
) -> None:
    if len(options) > 25:
        errs.add(p, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen: set[str] = set()
    optional_seen = False
    kinds = {("sub" if o.get("type") in (1, 2) else "value") for o in options}
    if len(kinds) > 1:
        errs.add(
            p,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive "
            "to all other types",
        )
    for i, o in enumerate(options):
        op: list[str | int] = [*p, i]
        _validate_name_desc(errs, op, o, chat_input=True)
        name = str(o.get("name"))
        if name in seen:
            errs.add(
                [*op, "name"],
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option name already exists",
            )
        seen.add(name)
        otype = o.get("type")
        if otype in (1, 2):
            if (otype == 2 and depth > 0) or (otype == 1 and depth > 1):
                errs.add(
                    [*op, "type"],
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Sub-commands nested too deep",
                )
            _validate_options(errs, [*op, "options"], list(o.get("options") or []), depth + 1)
            continue
        if o.get("required"):
            if optional_seen:
                errs.add(
                    [*op, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        choices = o.get("choices") or []
        if len(choices) > 25:
            errs.add([*op, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if choices and o.get("autocomplete"):
            errs.add(
                [*op, "autocomplete"],
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_CHOICES",
                "Autocomplete and choices are mutually exclusive",
            )
        for j, c in enumerate(choices):
            cname = c.get("name")
            if not isinstance(cname, str) or not 1 <= len(cname) <= 100:
                errs.add(
                    [*op, "choices", j, "name"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            errs.max_len([*op, "choices", j, "value"], c.get("value"), 100)


def validate_commands(commands: object) -> None:
    errs = FormErrors()
    if not isinstance(commands, list):
        raise ApiError(
            400,
            50035,
            "Invalid Form Body",
            {"_errors": [{"code": "LIST_TYPE_CONVERT", "message": "Must be an array."}]},
        )
    seen: set[tuple[str, int]] = set()
    chat_inputs = 0
    for i, cmd in enumerate(commands):
        ctype = int(cmd.get("type", 1))
        _validate_name_desc(errs, [i], cmd, chat_input=ctype == 1)
        key = (str(cmd.get("name")), ctype)
        if key in seen:
            errs.add(
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique (duplicate: {key[0]})",
            )
        seen.add(key)
        chat_inputs += ctype == 1
        if ctype == 1:
            _validate_options(errs, [i, "options"], list(cmd.get("options") or []), 0)
    if chat_inputs > 100:
        errs.add([], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer chat input commands.")
    errs.raise_if_any()


def validate_choices(data: JSON) -> None:
    errs = FormErrors()
    choices = data.get("choices")
    if not isinstance(choices, list):
        errs.add(["data", "choices"], "BASE_TYPE_REQUIRED", "This field is required")
    else:
        if len(choices) > 25:
            errs.add(["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, c in enumerate(choices):
            name = c.get("name")
            if not isinstance(name, str) or not 1 <= len(name) <= 100:
                errs.add(
                    ["data", "choices", j, "name"],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                )
            errs.max_len(["data", "choices", j, "value"], c.get("value"), 100)
    errs.raise_if_any()
