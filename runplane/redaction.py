"""Secret redaction for everything runplane shows about commands, environments, headers and URLs.

A task's arguments, its run identity, the server's configuration and its logs are shown to people and
written to disk; the secrets inside them must not be. Every function here returns a copy in which secret
values are replaced by :data:`REDACTED` and everything else is left exactly as it was, so the result stays
readable and is still a faithful picture of what ran. Every function is idempotent (redacting twice gives
the same text as redacting once) and none of them raises on odd input.

Which names are secret
    A name (a command-line option, an environment variable, a query parameter, a header, a ``key=value``
    key) is split into words at ``-``, ``_``, ``.``, any other punctuation and camelCase boundaries, then
    lower-cased: ``--hf-token``, ``HF_TOKEN`` and ``hfToken`` all give ``hf token``. The name is secret when

    * one of its words is a secret word (:data:`SECRET_WORDS`: ``key``, ``token``, ``secret``,
      ``password``, ``passwd``, ``pwd``, ``credentials``, ``auth``, ``authorization``, ``cookie``,
      ``signature``, ``jwt``, ``bearer``, …) or ends with a strong suffix (``token``, ``secret``,
      ``password``, ``passwd``, ``apikey``, ``passphrase``: ``PGPASSWORD``, ``ghtoken``); words are matched
      whole, so ``--keyboard-layout``, ``--monkey``, ``--tokenizer``, ``--author`` and the plural
      ``--max-new-tokens`` are not secret;
    * and none of its words says the value is *about* the secret rather than the secret itself
      (:data:`HARMLESS_WORDS`: ``file``, ``path``, ``dir``, ``id``, ``name``, ``type``, ``url``, ``max``,
      ``timeout``, ``env``, ``public``, …). So ``--key-file /etc/key.pem``, ``--token-path``,
      ``AWS_ACCESS_KEY_ID``, ``--secret-name``, ``--auth-type basic``, ``--public-key`` are shown as they
      are: a path or an identifier is what an operator needs to see, and the secret it points to is not in
      the command. A URL value is still URL-redacted whatever its name (``--token-url``);
    * and, when ``key`` is its only secret word, none of its words names a data field
      (:data:`KEY_DATA_WORDS`): ``--text-key text``, ``--sort-key``, ``--label-key`` name columns, not
      credentials, while ``--key``, ``--api-key``, ``--ssh-key``, ``OPENAI_API_KEY`` are secret;
    * and its first word is not ``no``: ``--no-auth`` is a switch and never takes a value.

Command lines
    An option with a secret name has its value redacted, both as ``--api-key=X`` and as ``--api-key X``
    (the next argument, unless that argument starts with ``--``; a value starting with a single dash is
    still a value). Single-letter options (``-p``) are never treated as secret: their meaning differs from
    program to program. Go and Java style single-dash long options count (``-token X``,
    ``-Dspring.datasource.password=X``). Besides options, every argument is checked on its own:
    ``NAME=value`` with a secret name (``API_KEY=abc``, Hydra's ``+wandb.api_key=abc``), a header
    (``Authorization: Bearer abc`` keeps its scheme: ``Authorization: Bearer <redacted>``), a bare
    ``Bearer abc``, URLs anywhere inside it, ``"token": "abc"`` JSON pairs, and an argument that is itself a
    command line (``bash -c "train.py --api-key abc"``) is redacted as one. The argument after a
    shell's ``-c`` (``-lc``, ``-ec``…) is always read as a command line, whatever its first word, so
    ``bash -c "--token=abc; ls"`` reads ``--token=<redacted>; ls`` as it would anywhere else in a
    script, rather than losing the script as the option's value. Elsewhere a whole argument
    ``NAME=value`` loses everything after ``=``, spaces included. ``Bearer`` or ``Basic`` standing alone
    hides the next argument (for ``Basic``, only when it looks like base64).
    :func:`redact_command` replaces only the characters of each secret value: operators (``;``, ``&&``,
    ``|``, which also end an option's value), spacing, brackets and quoting stay exactly as written, so
    ``--password 'a b'; ls`` reads ``--password '<redacted>'; ls`` (the placeholder is left bare).

Free text
    :func:`redact_text` finds the same forms in place; the quoted value of a harmless option or pair is
    searched too (``bash -c "--token=abc echo hi"``, ``--note "use --api-key abc"``).

URLs
    The password of the userinfo (``https://user:<redacted>@host/x``) and the values of secret query and
    fragment parameters (``token``, ``sig``, ``signature``, ``api_key``, ``X-Amz-Signature``,
    ``X-Amz-Credential``, ``access_token`` in an OAuth fragment, …) are redacted; everything else, the raw
    percent-encoding included, is kept. A user name alone (``https://git@host``) is kept: there is no
    telling a login name from a token by its shape.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple, TypeVar
from urllib.parse import unquote_plus

__all__ = [
    "HARMLESS_WORDS",
    "KEY_DATA_WORDS",
    "REDACTED",
    "SECRET_WORDS",
    "SecretValues",
    "is_secret_name",
    "redact_args",
    "redact_command",
    "redact_env",
    "redact_headers",
    "redact_text",
    "redact_url",
]

REDACTED = "<redacted>"

SECRET_WORDS: frozenset[str] = frozenset(
    {
        "key",
        "apikey",
        "accesskey",
        "secretkey",
        "privatekey",
        "authkey",
        "masterkey",
        "signingkey",
        "encryptionkey",
        "licensekey",
        "token",
        "secret",
        "secrets",
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "credential",
        "credentials",
        "creds",
        "auth",
        "oauth",
        "authorization",
        "cookie",
        "cookies",
        "bearer",
        "jwt",
        "signature",
        "sas",
    }
)
_SECRET_SUFFIXES = ("token", "secret", "password", "passwd", "apikey", "passphrase")

HARMLESS_WORDS: frozenset[str] = frozenset(
    {
        # where the secret lives, or what it is called: shown so an operator can tell what was used
        "file",
        "files",
        "path",
        "paths",
        "dir",
        "directory",
        "env",
        "var",
        "id",
        "ids",
        "name",
        "names",
        "url",
        "uri",
        "endpoint",
        "host",
        "port",
        "sock",
        "socket",
        "public",
        # facts about the secret or the authentication, not the secret
        "type",
        "kind",
        "mode",
        "method",
        "scheme",
        "provider",
        "format",
        "algorithm",
        "algo",
        "prefix",
        "suffix",
        "length",
        "len",
        "size",
        "count",
        "num",
        "max",
        "min",
        "limit",
        "budget",
        "ttl",
        "timeout",
        "expiry",
        "expires",
        "expiration",
        "lifetime",
        "interval",
        "enabled",
        "disabled",
        "required",
        "optional",
        "field",
        "column",
    }
)

# ``key`` alone is as often a column of a data set (``--text-key text``) as a credential; these qualifiers
# say it is the former. They do not neutralise the other secret words (``--prompt-token`` stays secret).
KEY_DATA_WORDS: frozenset[str] = frozenset(
    {
        "sort",
        "text",
        "label",
        "labels",
        "input",
        "output",
        "image",
        "img",
        "audio",
        "video",
        "caption",
        "metric",
        "monitor",
        "group",
        "partition",
        "shard",
        "primary",
        "foreign",
        "cache",
        "dict",
        "lookup",
        "join",
        "index",
        "target",
        "feature",
        "sample",
        "prompt",
        "response",
        "answer",
        "question",
        "context",
        "query",
        "document",
        "doc",
        "passage",
        "instruction",
        "completion",
        "chosen",
        "rejected",
        "message",
        "messages",
        "conversation",
        "chat",
        "dataset",
        "data",
        "split",
        "row",
        "item",
        "value",
        "map",
        "json",
        "hot",
        "shortcut",
        "routing",
    }
)

# Query parameters have their own short spellings (Azure SAS ``sig``).
_SECRET_QUERY_WORDS = frozenset({"sig"})

# Authorization schemes kept in front of the redacted credential: the scheme says how a caller
# authenticated, which is worth showing, and is never itself secret.
_AUTH_SCHEMES = frozenset(
    {"bearer", "basic", "digest", "token", "bot", "negotiate", "ntlm", "oauth", "apikey", "key", "dpop"}
)

# The words of a name: split at punctuation and at camelCase boundaries (``apiKey``, ``APIKey``).
_WORD_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

# ``--name``, ``-name``, ``--name=value``; a letter must follow the dashes so ``--`` and ``-1`` are values.
_OPTION = re.compile(r"(?P<flag>--?(?P<name>[A-Za-z][A-Za-z0-9_.\-]*))(?:=(?P<value>.*))?", re.DOTALL)
# ``NAME=value`` (environment style) and Hydra overrides (``+a.b=value``, ``++a.b=value``, ``~a.b=value``).
_ASSIGNMENT = re.compile(
    r"(?P<head>(?:\+\+|\+|~)?(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)=)(?P<value>.*)", re.DOTALL
)
# ``Name: value`` as one argument, e.g. ``curl -H "X-API-Key: abc"``.
_HEADER = re.compile(r"(?P<head>(?P<name>[A-Za-z][A-Za-z0-9_\-]*)\s*:\s*)(?P<value>\S.*)", re.DOTALL)
_SCHEMED_VALUE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9\-]*)(?P<space>\s+)(?P<credential>\S.*)", re.DOTALL
)

# A whole string that is a URL. Parsed by hand rather than with urllib so the output keeps every
# character of the input outside the redacted parts and malformed URLs never raise.
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<netloc>[^/?#]*)(?P<rest>.*)", re.DOTALL)
# URLs inside free text end at whitespace or a quote.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'`]+")

# ``Bearer <token>`` anywhere. ``Basic`` only when followed by something shaped like base64 of
# ``user:password``, so prose such as "Basic setup" is left alone. The credential must end the word, so a
# challenge such as ``Bearer realm="runplane"`` is not mistaken for one.
_BEARER_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])(?P<scheme>[Bb]earer)(?P<space>\s+)(?P<credential>[A-Za-z0-9\-._~+/]+=*)(?![^\s,;)\]}])"
)
_BASIC_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9])(?P<scheme>[Bb]asic)(?P<space>\s+)(?P<credential>[A-Za-z0-9+/]{8,}={0,2})(?![^\s,;)\]}])"
)

# ``name=value``, ``name: value``, ``"name": "value"`` in free text (logs, JSON arguments). The name must
# not continue a word or a path, so ``/data/key=1/part.parquet`` (a Hive partition) is left alone.
_PAIR_IN_TEXT = re.compile(
    r"""
    (?<![\w.\-/\\])
    (?P<name_quote>["']?)(?P<name>[A-Za-z_][\w.\-]*)(?P=name_quote)
    (?P<sep>\s*[:=]\s*)
    (?:(?i:bearer|basic|digest|token|bot|negotiate|ntlm|oauth|apikey|key|dpop)\s+(?=[^\s,;&}\])]))?
    (?:
        (?P<quote>["'])(?P<quoted>(?:\\.|(?!(?P=quote)).)*)(?P=quote)
      | (?P<bare>[^\s,;&"'}\])]+)
    )
    """,
    re.VERBOSE | re.DOTALL,
)
# ``--name value`` and ``--name=value`` in free text.
_OPTION_IN_TEXT = re.compile(
    r"""
    (?<![\w\-])
    (?P<flag>--?(?P<name>[A-Za-z][\w.\-]*))
    (?P<sep>=|\s+)
    (?:(?i:bearer|basic|digest|token|bot|negotiate|ntlm|oauth|apikey|key|dpop)\s+(?=[^\s"'\-]))?
    (?:
        (?P<quote>["'])(?P<quoted>(?:\\.|(?!(?P=quote)).)*)(?P=quote)
      | (?P<bare>(?!--)[^\s"';&|)\]}]+)
    )
    """,
    re.VERBOSE | re.DOTALL,
)

# shlex's own test for a token that needs quoting.
_SHELL_UNSAFE = re.compile(r"[^\w@%+=:,./-]", re.ASCII)
# Characters that keep their meaning inside double quotes: a token with one of them is single-quoted.
_DOUBLE_QUOTE_SPECIAL = re.compile(r'["$`\\!]')
_BASE64 = re.compile(r"[A-Za-z0-9+/]{8,}={0,2}")
# ``-c`` and the clusters shells accept before it (``bash -lc``, ``sh -ec``, ``bash -xeuc``): the next
# argument is a command line.
_SHELL_SCRIPT_OPTION = re.compile(r"-[A-Za-z]*c")
# An argument holding a command line is redacted as one; nesting deeper than this is not unpacked.
_MAX_NESTING = 3
_MAX_PASSES = 5


T = TypeVar("T")


def _settle(redact: Callable[[T], T], value: T) -> T:
    """Apply ``redact`` until the result no longer changes.

    One pass can change how the rest of the text parses (redacting the word that held an unbalanced
    quote makes the command parse as shell words again), so a second pass may find more; settling makes
    every public function idempotent by construction. Two passes settle everything seen in practice; the
    bound only guards against a pathological input.
    """
    for _ in range(_MAX_PASSES):
        redacted = redact(value)
        if redacted == value:
            break
        value = redacted
    return value


def _words(name: str) -> list[str]:
    return [
        word.lower() for part in _WORD_SEPARATORS.split(name) for word in _CAMEL_BOUNDARY.split(part) if word
    ]


def _is_secret_word(word: str) -> bool:
    return word in SECRET_WORDS or word.endswith(_SECRET_SUFFIXES)


def is_secret_name(name: str) -> bool:
    """Whether a value called ``name`` (option, variable, parameter, header, key) is a secret.

    See the module documentation for the rule. Leading dashes and Hydra's ``+``/``~`` are ignored.
    """
    words = _words(name)
    if not words or words[0] == "no":
        return False
    secret_words = [word for word in words if _is_secret_word(word)]
    if not secret_words or any(word in HARMLESS_WORDS for word in words):
        return False
    only_key = all(word == "key" for word in secret_words)
    return not (only_key and any(word in KEY_DATA_WORDS for word in words))


def _is_secret_query_name(name: str) -> bool:
    return is_secret_name(name) or any(word in _SECRET_QUERY_WORDS for word in _words(name))


def _redact_credential(value: str) -> str:
    """A secret header's value: the credential goes, a known authorization scheme in front of it stays.

    Trailing whitespace is kept: it is layout, and dropping it would make a second pass change the text.
    """
    credential = value.rstrip()
    trailing = value[len(credential) :]
    match = _SCHEMED_VALUE.fullmatch(credential)
    if match and match["scheme"].lower() in _AUTH_SCHEMES:
        return match["scheme"] + match["space"] + REDACTED + trailing
    return REDACTED + trailing


def _already_redacted(value: str) -> bool:
    if value.startswith(REDACTED):
        return True
    match = _SCHEMED_VALUE.fullmatch(value)
    return bool(match and match["credential"].startswith(REDACTED))


def _redact_parameters(text: str) -> str:
    """``a=1&token=x`` → ``a=1&token=<redacted>``; raw names, order and encoding are kept."""
    parts = text.split("&")
    for index, part in enumerate(parts):
        name, equals, value = part.partition("=")
        if equals and value and _is_secret_query_name(unquote_plus(name)):
            # Punctuation closing the URL's surroundings ("...?token=abc;", "(see ...?sig=x)") is kept.
            secret = value.rstrip(";,)]}")
            if secret:
                parts[index] = name + equals + REDACTED + value[len(secret) :]
        elif "://" in value:
            # A URL carried in a parameter (?next=https://u:p@h/) has secrets of its own.
            parts[index] = name + equals + redact_url(value)
    return "&".join(parts)


def redact_url(url: str) -> str:
    """Redact the userinfo password and secret query/fragment parameters of a URL.

    A string that is not a URL (no ``scheme://``) comes back unchanged.
    """
    match = _URL.fullmatch(url)
    if match is None:
        return url
    netloc = match["netloc"]
    userinfo, at, hostport = netloc.rpartition("@")
    if at:
        user, colon, password = userinfo.partition(":")
        if colon and password:
            netloc = f"{user}:{REDACTED}@{hostport}"
    rest, hash_mark, fragment = match["rest"].partition("#")
    path, question_mark, query = rest.partition("?")
    if query:
        query = _redact_parameters(query)
    if fragment and "=" in fragment:
        fragment = _redact_parameters(fragment)
    return match["scheme"] + netloc + path + question_mark + query + hash_mark + fragment


def _redact_urls_in(text: str) -> str:
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda match: redact_url(match[0]), text)


def _replace_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match["name"]):
        if match["quote"] and match["quoted"]:
            # The quoted value of a harmless name is text of its own (``bash -c "--token=abc; ls"``,
            # ``--note "use --api-key abc"``): the pattern consumed it whole, so its secrets are found here
            # or not at all.
            whole = match.start(0)
            start, end = match.start("quoted") - whole, match.end("quoted") - whole
            return match[0][:start] + _redact_text_once(match["quoted"]) + match[0][end:]
        return match[0]
    start = match.start("quoted") if match["quote"] else match.start("bare")
    end = match.end("quoted") if match["quote"] else match.end("bare")
    value = match.string[start:end]
    if not value:
        return match[0]
    whole = match.start(0)
    return match[0][: start - whole] + _redact_credential(value) + match[0][end - whole :]


def _replace_scheme(match: re.Match[str]) -> str:
    return match["scheme"] + match["space"] + REDACTED


def _redact_text_once(text: str) -> str:
    text = _redact_urls_in(text)
    text = _BEARER_IN_TEXT.sub(_replace_scheme, text)
    text = _BASIC_IN_TEXT.sub(
        lambda match: (
            _replace_scheme(match) if _looks_like_basic_credential(match["credential"]) else match[0]
        ),
        text,
    )
    text = _OPTION_IN_TEXT.sub(_replace_pair, text)
    return _PAIR_IN_TEXT.sub(_replace_pair, text)


def redact_text(text: str) -> str:
    """Redact secrets inside free text (a log line, an error message, a JSON argument) in place.

    Handles URLs, ``Bearer``/``Basic`` credentials, ``--secret-option value``, and ``name=value``,
    ``name: value`` and ``"name": "value"`` pairs whose name is secret. Layout and quoting are kept.
    """
    return _settle(_redact_text_once, text)


def _looks_like_basic_credential(candidate: str) -> bool:
    # base64 of "user:password" has a length that is a multiple of four and reads as no ordinary word
    # ("Basic setup", "Basic Usage" are prose).
    if len(candidate) % 4:
        return False
    return not (candidate.isalpha() and (candidate.islower() or candidate.isupper() or candidate.istitle()))


def _redact_value(value: str, depth: int) -> str:
    """One argument that is not an option: headers, assignments, nested command lines, free text."""
    # A whole argument "NAME=value" or "Name: value" has a value that runs to its end, spaces included
    # ("API_KEY=two words"), so all of it goes; a value an earlier pass already redacted is left as is.
    header = _HEADER.fullmatch(value)
    if header and is_secret_name(header["name"]):
        if _already_redacted(header["value"]):
            return value
        return header["head"] + _redact_credential(header["value"])
    assignment = _ASSIGNMENT.fullmatch(value)
    if assignment:
        if not assignment["value"]:
            return value
        if is_secret_name(assignment["name"]):
            if _already_redacted(assignment["value"]):
                return value
            return assignment["head"] + REDACTED + assignment["value"][len(assignment["value"].rstrip()) :]
        return assignment["head"] + _redact_value(assignment["value"], depth)
    if depth < _MAX_NESTING and any(character.isspace() for character in value):
        value = _redact_command(value, depth + 1)
    return _redact_text_once(value)


def _is_script(arg: str) -> bool:
    """Whether ``arg``, following a shell's ``-c``, holds more than one word of a command line."""
    return any(character.isspace() or character in _SHELL_OPERATORS for character in arg)


def _redact_tokens(args: Sequence[str], depth: int) -> list[str]:
    redacted: list[str] = []
    value_is_secret = False
    after_basic = False
    script_next = False
    for arg in args:
        if script_next:
            script_next = False
            # The argument of ``sh -c`` is a command line whatever its first word is: read whole as
            # ``--token=abc`` or ``API_KEY=abc`` it would lose the script after its first word, and be
            # masked unlike the same words anywhere else in it.
            if depth < _MAX_NESTING and _is_script(arg):
                redacted.append(_redact_text_once(_redact_command(arg, depth + 1)))
                continue
        if _SHELL_SCRIPT_OPTION.fullmatch(arg):
            script_next = True
        if value_is_secret:
            value_is_secret = False
            if not arg.startswith("--"):
                redacted.append(REDACTED if arg else arg)
                continue
        if after_basic:
            after_basic = False
            if _BASE64.fullmatch(arg) and _looks_like_basic_credential(arg):
                redacted.append(REDACTED)
                continue
        # "Bearer" or "Basic" on its own: the credential is the next argument (an unquoted header value).
        if arg.lower() == "bearer":
            value_is_secret = True
            redacted.append(arg)
            continue
        if arg.lower() == "basic":
            after_basic = True
            redacted.append(arg)
            continue
        option = _OPTION.fullmatch(arg)
        if option is None:
            redacted.append(_redact_value(arg, depth))
            continue
        name, value = option["name"], option["value"]
        # Single-letter options (-p, -k) mean different things to every program: never guessed at.
        secret = len(name) > 1 and is_secret_name(name)
        if value is None:
            value_is_secret = secret
            redacted.append(arg)
        elif secret:
            redacted.append(f"{option['flag']}={REDACTED}" if value else arg)
        else:
            redacted.append(f"{option['flag']}={_redact_value(value, depth)}")
    return redacted


def redact_args(args: Sequence[str]) -> list[str]:
    """Redact an argument vector (``sys.argv`` style); see the module documentation for the rules."""
    if isinstance(args, str):
        raise TypeError("redact_args takes a sequence of arguments; use redact_command for a command line")
    return _settle(lambda tokens: _redact_tokens(tokens, 0), list(args))


def _quote(token: str) -> str:
    # The placeholder is left bare when it is the only thing that would need quoting, so the result reads
    # "--api-key <redacted>" rather than "--api-key '<redacted>'"; the command cannot run as shown anyway.
    if REDACTED in token and not _SHELL_UNSAFE.search(token.replace(REDACTED, "")):
        return token
    if "'" in token and not _DOUBLE_QUOTE_SPECIAL.search(token):
        # A nested command line with its own single quotes reads far better in double quotes than in
        # shlex.quote's '"'"' splicing, and means the same to a shell.
        return f'"{token}"'
    return shlex.quote(token)


_SHELL_WHITESPACE = " \t\r\n"
# Unquoted characters that end a word and a simple command (``a;b``, ``a&&b``, ``a|b``, ``(a)``, lines):
# an option's value never runs across one, and a redaction never swallows one.
_SHELL_OPERATORS = ";&|()\n"


class _Char(NamedTuple):
    """Where one character of a parsed shell word came from in the command line.

    ``start``/``end`` cover its source (a backslash escape included); ``quote`` is the quoting it was
    read in (``""``, ``"'"`` or ``'"'``) and ``region_start``/``region_end`` cover that whole quoted
    region, quotes included (the character itself when unquoted).
    """

    start: int
    end: int
    quote: str
    region_start: int
    region_end: int


class _ShellWord(NamedTuple):
    value: str
    start: int
    end: int
    chars: list[_Char]


def _shell_words(command: str) -> list[list[_ShellWord]]:
    """Split like ``shlex.split`` (POSIX rules, no comments), into simple commands at unquoted operators.

    Each word says where each of its characters stands, so a redaction can replace only the characters
    of the secret and keep operators (``;``, ``&&``, ``|``), spacing and quoting exactly as written.
    Raises ValueError where shlex would.
    """
    commands: list[list[_ShellWord]] = [[]]
    index, length = 0, len(command)
    while index < length:
        if command[index] in _SHELL_OPERATORS:
            if commands[-1]:
                commands.append([])
            index += 1
            continue
        if command[index] in _SHELL_WHITESPACE:
            index += 1
            continue
        start = index
        value: list[str] = []
        chars: list[_Char] = []
        while index < length and command[index] not in _SHELL_WHITESPACE + _SHELL_OPERATORS:
            character = command[index]
            if character == "\\":
                if index + 1 >= length:
                    raise ValueError("No escaped character")
                value.append(command[index + 1])
                chars.append(_Char(index, index + 2, "", index, index + 2))
                index += 2
            elif character == "'":
                close = command.find("'", index + 1)
                if close < 0:
                    raise ValueError("No closing quotation")
                for position in range(index + 1, close):
                    value.append(command[position])
                    chars.append(_Char(position, position + 1, "'", index, close + 1))
                index = close + 1
            elif character == '"':
                opening = index
                quoted: list[tuple[str, int, int]] = []
                index += 1
                while True:
                    if index >= length:
                        raise ValueError("No closing quotation")
                    character = command[index]
                    if character == '"':
                        index += 1
                        break
                    if character == "\\":
                        if index + 1 >= length:
                            raise ValueError("No closing quotation")
                        escaped = command[index + 1]
                        # Inside double quotes shlex only unescapes a quote or a backslash.
                        if escaped in '"\\':
                            quoted.append((escaped, index, index + 2))
                        else:
                            quoted.append(("\\", index, index + 1))
                            quoted.append((escaped, index + 1, index + 2))
                        index += 2
                    else:
                        quoted.append((character, index, index + 1))
                        index += 1
                for text, begin, finish in quoted:
                    value.append(text)
                    chars.append(_Char(begin, finish, '"', opening, index))
            else:
                value.append(character)
                chars.append(_Char(index, index + 1, "", index, index + 1))
                index += 1
        commands[-1].append(_ShellWord("".join(value), start, index, chars))
    return [words for words in commands if words]


def _plain_words(command: str) -> list[list[_ShellWord]]:
    """Whitespace-separated words taken literally, split into commands at ``;``, ``&``, ``|`` and lines.

    The fallback for a command line with unbalanced quotes or a trailing backslash.
    """
    commands: list[list[_ShellWord]] = []
    for piece in re.finditer(r"[^;&|\n]+", command):
        words = [
            _ShellWord(
                word[0],
                piece.start() + word.start(),
                piece.start() + word.end(),
                [
                    _Char(position, position + 1, "", position, position + 1)
                    for position in range(piece.start() + word.start(), piece.start() + word.end())
                ],
            )
            for word in re.finditer(r"\S+", piece[0])
        ]
        if words:
            commands.append(words)
    return commands


def _masked_spans(value: str, redacted: str) -> list[tuple[int, int]] | None:
    """The spans of ``value`` that became :data:`REDACTED` in ``redacted``; None when it is not a masking."""
    parts = redacted.split(REDACTED)
    match = re.fullmatch("(.*?)".join(re.escape(part) for part in parts), value, re.DOTALL)
    if match is None:
        return None
    return [match.span(group) for group in range(1, len(parts))]


def _source_span(word: _ShellWord, start: int, end: int) -> tuple[int, int]:
    """The command-line span holding ``word.value[start:end]``, widened to whole quoted regions where the
    secret starts and ends in different quoting (so the quotes left around the placeholder balance)."""
    if start == end:
        position = word.chars[start].start if start < len(word.chars) else word.end
        return position, position
    first, last = word.chars[start], word.chars[end - 1]
    if first.quote == last.quote and (
        first.quote == "" or (first.region_start, first.region_end) == (last.region_start, last.region_end)
    ):
        return first.start, last.end
    return first.region_start, last.region_end


def _redact_command(command: str, depth: int) -> str:
    try:
        commands = _shell_words(command)
    except ValueError:
        # Unbalanced quotes or a trailing backslash: redact whitespace-separated words where they stand.
        commands = _plain_words(command)
    pieces: list[str] = []
    position = 0
    for words in commands:
        redacted = _redact_tokens([word.value for word in words], depth)
        for word, replacement in zip(words, redacted, strict=True):
            if replacement == word.value:
                continue
            spans = _masked_spans(word.value, replacement)
            if spans is None:
                pieces.append(command[position : word.start])
                pieces.append(_quote(replacement))
                position = word.end
                continue
            for start, end in spans:
                source_start, source_end = _source_span(word, start, end)
                source_start = max(source_start, position)
                pieces.append(command[position:source_start])
                pieces.append(REDACTED)
                position = source_end
    pieces.append(command[position:])
    return "".join(pieces)


def redact_command(command: str) -> str:
    """Redact a shell command line.

    It is split into words like a shell would (``shlex.split`` rules) and redacted like
    :func:`redact_args`; only the words that change are rewritten, with shell quoting, so spacing, operators
    and the quoting of everything else stay as written. Unbalanced quotes do not raise: the command is then
    redacted word by word at whitespace.
    """
    return _settle(lambda text: _redact_command(text, 0), command)


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """Redact an environment: secret-named values entirely, URLs and embedded secrets in the others."""
    return {name: _redact_env_value(name, value) for name, value in env.items()}


def _redact_env_value(name: str, value: str) -> str:
    if value and is_secret_name(name):
        return REDACTED
    return _settle(lambda text: _redact_value(text, 0), value)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Redact HTTP headers: Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-API-Key and any
    header with a secret name lose their values (an authorization scheme such as ``Bearer`` is kept);
    URLs in the other headers (Location, Referer) are URL-redacted."""
    return {
        name: (_redact_credential(value) if value and is_secret_name(name) else redact_text(value))
        for name, value in headers.items()
    }


# A multi-line secret (a PEM key, a JSON credential) never appears whole in a line of text, so each of its
# lines is redacted on its own too; shorter lines ("}", "") would hide innocent text everywhere. The same
# rule as the task log's mask (runplane.worker.masking), so what the log hides, every other view hides.
_MIN_SECRET_LINE_CHARS = 4

MIN_SECRET_CHARS = 4
"""The shortest secret value accepted (openapi.yaml's ``SecretValue.minLength``, and a task's plugin secret
settings, `runplane.plugins.definitions.check_config`): values are masked wherever they appear, so a
one-character secret would mask that character in every log line (``***poch``) and hide nothing."""


class SecretValues:
    """A task's secret values, redacted by value wherever they appear, whatever the name around them.

    Redacting by name (the rest of this module) misses a secret passed where its name says nothing
    (``--config-b64 <value>``, a positional argument); the task's own `secrets` are known exactly, so every
    occurrence of one of them is replaced by :data:`REDACTED`: every non-empty value, longer values first
    (a secret containing another is redacted whole), and each line of a multi-line value.
    """

    def __init__(self, values: Iterable[str]) -> None:
        found: set[str] = set()
        for value in values:
            if not value:
                continue
            found.add(value)
            lines = value.splitlines()
            if len(lines) > 1:
                found.update(line.strip() for line in lines if len(line.strip()) >= _MIN_SECRET_LINE_CHARS)
        ordered = sorted(found, key=lambda value: (-len(value), value))
        self._pattern = re.compile("|".join(re.escape(value) for value in ordered)) if ordered else None

    def redact(self, text: str) -> str:
        """`text` with every occurrence of a secret value replaced by :data:`REDACTED`."""
        return text if self._pattern is None else self._pattern.sub(REDACTED, text)

    def command(self, command: str) -> str:
        """:func:`redact_command` of `command`, its secret values redacted first."""
        return redact_command(self.redact(command))

    def args(self, args: Sequence[str]) -> list[str]:
        """:func:`redact_args` of `args`, their secret values redacted first."""
        return redact_args([self.redact(arg) for arg in args])

    def env(self, env: Mapping[str, str]) -> dict[str, str]:
        """:func:`redact_env` of `env`, its secret values redacted first."""
        return redact_env({name: self.redact(value) for name, value in env.items()})

    def deep(self, value: Any) -> Any:
        """`value` (JSON: objects, arrays, strings, numbers) with every string in it, property names
        included, redacted by :meth:`redact`; other values unchanged. Used for the free-form fields a
        user gives a task (`metadata`, `inputs`, ...), where a secret value may appear anywhere."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {self.redact(str(key)): self.deep(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(item) for item in value]
        return value


_MARK_BASE: Final = 0xE000
"""The first character of Unicode's private use area: a task's secret `i` (by sorted name) is written at
rest as ``chr(_MARK_BASE + i)`` (:class:`SecretMarks`). No text a user gives a task is expected to hold
these characters, and one character is never longer than the value it stands for (at least
`MIN_SECRET_CHARS`), so a marked text fits wherever the value did."""
MAX_MARKS: Final = 6400
"""How many secrets a task can have marked (the private use area's size)."""


class SecretMarks:
    """A task's secret values erased from its stored texts and put back for a retry.

    When a task ends its secret values are erased (`runplane.lifecycle.erase_secrets`); a value the user
    also passed literally in a text (``--token <value>`` in `args`, a `metadata` entry) must go too, yet a
    retry given the values again (``POST /v1/tasks/{id}/retry``) must run the same command. So each
    occurrence of a value is replaced by one private-use character naming its secret (:meth:`erase`), and
    the retry's values replace the characters (:meth:`restore`). Values are matched whole, longest first;
    a line of a multi-line value found on its own is redacted (:data:`REDACTED`) and does not come back.
    """

    def __init__(self, names: Iterable[str]) -> None:
        ordered = sorted(names)
        if len(ordered) > MAX_MARKS:
            raise ValueError(f"at most {MAX_MARKS} secrets can be marked, not {len(ordered)}")
        self._marks = {name: chr(_MARK_BASE + index) for index, name in enumerate(ordered)}

    def erase(self, secrets: Mapping[str, Any], value: Any) -> Any:
        """`value` (JSON) with every string in it, property names included, rid of `secrets`' values."""
        by_value = {
            str(text): self._marks[name] for name, text in secrets.items() if text and name in self._marks
        }
        if not by_value:
            return value
        # The lines of a multi-line value, as SecretValues redacts them.
        lines = {
            line.strip()
            for text in by_value
            if len(text.splitlines()) > 1
            for line in text.splitlines()
            if len(line.strip()) >= _MIN_SECRET_LINE_CHARS and line.strip() not in by_value
        }
        ordered = sorted([*by_value, *lines], key=lambda text: (-len(text), text))
        pattern = re.compile("|".join(re.escape(text) for text in ordered))
        return _deep(value, lambda text: pattern.sub(lambda found: by_value.get(found[0], REDACTED), text))

    def restore(self, secrets: Mapping[str, str], value: Any) -> Any:
        """`value` (JSON) with each secret's character replaced by its value in `secrets` (the retry's);
        a character whose secret has no value there is left as it is."""
        by_mark = {mark: secrets[name] for name, mark in self._marks.items() if name in secrets}
        if not by_mark:
            return value
        pattern = re.compile("[" + "".join(by_mark) + "]")
        return _deep(value, lambda text: pattern.sub(lambda found: by_mark[found[0]], text))


def _deep(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, Mapping):
        return {change(str(key)): _deep(item, change) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_deep(item, change) for item in value]
    return value
