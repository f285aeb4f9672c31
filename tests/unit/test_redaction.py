from __future__ import annotations

import re
import shlex

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runplane.redaction import (
    REDACTED,
    SecretValues,
    is_secret_name,
    redact_args,
    redact_command,
    redact_env,
    redact_headers,
    redact_text,
    redact_url,
)

R = REDACTED

# Every option the product brief names as secret, in both spellings of its value.
SECRET_OPTIONS = [
    "--api-key",
    "--api_key",
    "--apikey",
    "--apiKey",
    "--token",
    "--access-token",
    "--auth-token",
    "--hf-token",
    "--hf_token",
    "--password",
    "--passwd",
    "--pwd",
    "--secret",
    "--client-secret",
    "--private-key",
    "--credentials",
    "--key",
    "--ssh-key",
    "--secret-access-key",
    "--auth",
    "--cookie",
    "--passphrase",
    "-token",
    "-api-key",
]


@pytest.mark.parametrize("option", SECRET_OPTIONS)
def test_secret_option_value_is_redacted_in_both_spellings(option: str) -> None:
    assert redact_args(["train.py", option, "s3cr3t", "--epochs", "10"]) == [
        "train.py",
        option,
        R,
        "--epochs",
        "10",
    ]
    assert redact_args(["train.py", f"{option}=s3cr3t", "--epochs", "10"]) == [
        "train.py",
        f"{option}={R}",
        "--epochs",
        "10",
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["--epochs", "10"],
        ["--keyboard-layout", "us"],
        ["--monkey", "patch"],
        ["--tokenizer", "bert-base-uncased"],
        ["--max-new-tokens", "512"],
        ["--max_tokens", "64"],
        ["--author", "ada"],
        ["--key-file", "/etc/ssl/key.pem"],
        ["--token-path", "/run/secrets/token"],
        ["--credentials-file", "creds.json"],
        ["--password-env", "DB_PASSWORD"],
        ["--secret-name", "prod-db"],
        ["--access-key-id", "AKIAEXAMPLE"],
        ["--auth-type", "basic"],
        ["--public-key", "ssh-ed25519 AAAA"],
        ["--text-key", "text"],
        ["--sort-key", "created_at"],
        ["--label_key", "label"],
        ["--no-auth", "train.py"],
        ["-p", "8080"],
        ["-k", "5"],
        ["/data/models/model.pt", "./out", "--", "-1"],
        ["/data/key=1/part-0.parquet"],
        ["TOKENIZERS_PARALLELISM=false", "CUDA_VISIBLE_DEVICES=0,1", "trainer.max_epochs=3"],
        ["localhost:8080", "https://example.com/data.csv?split=train&rows=10"],
        ["Basic", "setup"],
        [""],
        [],
    ],
)
def test_harmless_arguments_are_unchanged(args: list[str]) -> None:
    assert redact_args(args) == args


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("API_KEY=abc", f"API_KEY={R}"),
        ("HF_TOKEN=hf_abc", f"HF_TOKEN={R}"),
        ("PGPASSWORD=pw", f"PGPASSWORD={R}"),
        ("+wandb.api_key=abc", f"+wandb.api_key={R}"),
        ("aws.secret_access_key=abc", f"aws.secret_access_key={R}"),
        ("DATABASE_URL=postgresql://u:p@h/db", f"DATABASE_URL=postgresql://u:{R}@h/db"),
        ("Authorization: Bearer abc.def", f"Authorization: Bearer {R}"),
        ("authorization:Basic dXNlcjpwYXNz", f"authorization:Basic {R}"),
        ("X-API-Key: k-123", f"X-API-Key: {R}"),
        ("Cookie: session=abc; theme=dark", f"Cookie: {R}"),
        ("Bearer eyJhbGciOi.xx.yy", f"Bearer {R}"),
        ("https://user:pass@host/x", f"https://user:{R}@host/x"),
        ("https://host/x?token=a&page=2&sig=b", f"https://host/x?token={R}&page=2&sig={R}"),
        (
            "https://bucket.s3.amazonaws.com/k?X-Amz-Signature=abc&X-Amz-Date=20240101&X-Amz-Credential=AK%2F",
            f"https://bucket.s3.amazonaws.com/k?X-Amz-Signature={R}&X-Amz-Date=20240101&X-Amz-Credential={R}",
        ),
        (
            "git+https://x-access-token:ghs_abc@github.com/o/r.git",
            f"git+https://x-access-token:{R}@github.com/o/r.git",
        ),
        ('{"api_key": "abc", "lr": 0.1}', f'{{"api_key": "{R}", "lr": 0.1}}'),
        ("python t.py --password hunter2", f"python t.py --password {R}"),
    ],
)
def test_secret_shaped_arguments(arg: str, expected: str) -> None:
    assert redact_args(["run", arg]) == ["run", expected]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # A secret value that starts with a single dash is still the value.
        (["--token", "-abc"], ["--token", R]),
        # A secret option followed by another option has no value to hide.
        (["--use-auth-token", "--epochs", "3"], ["--use-auth-token", "--epochs", "3"]),
        (["--api-key"], ["--api-key"]),
        (["--api-key="], ["--api-key="]),
        (["--api-key", ""], ["--api-key", ""]),
        # Java system properties and a non-secret option whose value holds a URL.
        (["-Dspring.datasource.password=pw"], [f"-Dspring.datasource.password={R}"]),
        (["--db-url=postgresql://u:p@h/db"], [f"--db-url=postgresql://u:{R}@h/db"]),
        (["--extra=--api-key abc"], [f"--extra=--api-key {R}"]),
        # Unquoted header split over several arguments.
        (["-H", "Authorization:", "Bearer", "abc"], ["-H", "Authorization:", "Bearer", R]),
        (["Basic", "dXNlcjpwYXNz"], ["Basic", R]),
    ],
)
def test_argument_sequences(args: list[str], expected: list[str]) -> None:
    assert redact_args(args) == expected


def test_redact_args_refuses_a_string() -> None:
    with pytest.raises(TypeError):
        # A str is a Sequence[str] to a type checker, so only the runtime check catches this mistake.
        redact_args("--api-key abc")


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("python train.py --api-key abc --epochs 10", f"python train.py --api-key {R} --epochs 10"),
        ("python train.py --api-key=abc", f"python train.py --api-key={R}"),
        ("python train.py --password 'two words'", f"python train.py --password '{R}'"),
        # Operators end an option's value and are never masked with it.
        (
            "bash -c 'echo --api-key abcdefg; printf topsecret; ls'",
            f"bash -c 'echo --api-key {R}; printf topsecret; ls'",
        ),
        ("echo --api-key abc&&ls|wc (x --token t)", f"echo --api-key {R}&&ls|wc (x --token {R})"),
        ('API_KEY="a b" run', f'API_KEY="{R}" run'),
        ("curl https://u:p@h/x?token=abc;ls", f"curl https://u:{R}@h/x?token={R};ls"),
        ("TOKEN=abc  python\ttrain.py | tee log", f"TOKEN={R}  python\ttrain.py | tee log"),
        ('python t.py --name "my run" --token=abc', f'python t.py --name "my run" --token={R}'),
        (
            "curl -H 'Authorization: Bearer abc' https://u:p@h/x",
            f"curl -H 'Authorization: Bearer {R}' https://u:{R}@h/x",
        ),
        (
            "curl 'https://h/x?token=abc&n=1'",
            f"curl 'https://h/x?token={R}&n=1'",
        ),
        (
            "bash -c 'python t.py --token abc --name \"a b\"'",
            f"bash -c 'python t.py --token {R} --name \"a b\"'",
        ),
        (
            "bash -c 'python t.py --password hunter2 --x \"a b\"' && echo done",
            f"bash -c 'python t.py --password {R} --x \"a b\"' && echo done",
        ),
        (
            "sh -c \"python t.py --token abc --x 'a b'\"",
            f"sh -c \"python t.py --token {R} --x 'a b'\"",
        ),
        ("env API_KEY=abc python x.py", f"env API_KEY={R} python x.py"),
    ],
)
def test_redact_command(command: str, expected: str) -> None:
    assert redact_command(command) == expected


@pytest.mark.parametrize(
    "command",
    [
        "python train.py --epochs 10 --lr 0.1",
        'python  train.py   --name "my run"   # spacing and quoting kept',
        "echo 'it''s' \"$HOME\" && ls -la | wc -l",
        "",
        "   ",
    ],
)
def test_command_without_secrets_is_returned_as_written(command: str) -> None:
    assert redact_command(command) == command


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('echo "unbalanced --token abc', f'echo "unbalanced --token {R}'),
        ("python  t.py --api-key  abc 'open", f"python  t.py --api-key  {R} 'open"),
        ("trailing backslash --password pw \\", f"trailing backslash --password {R} \\"),
    ],
)
def test_unbalanced_quotes_fall_back_to_words_in_place(command: str, expected: str) -> None:
    assert redact_command(command) == expected


def test_redacted_command_still_parses_to_the_redacted_arguments() -> None:
    command = "python t.py --api-key abc --name 'my run' --url https://u:p@h/x?sig=s"
    assert shlex.split(redact_command(command)) == redact_args(shlex.split(command))


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"OPENAI_API_KEY": "sk-1"}, {"OPENAI_API_KEY": R}),
        ({"HF_TOKEN": "hf_1", "GITHUB_TOKEN": "ghp"}, {"HF_TOKEN": R, "GITHUB_TOKEN": R}),
        (
            {"AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"},
            {"AWS_SECRET_ACCESS_KEY": R, "AWS_SESSION_TOKEN": R},
        ),
        (
            {"MLFLOW_TRACKING_PASSWORD": "p", "PGPASSWORD": "p", "MYSQL_PWD": "p"},
            dict.fromkeys(("MLFLOW_TRACKING_PASSWORD", "PGPASSWORD", "MYSQL_PWD"), R),
        ),
        (
            {"DB_PASSWD": "p", "GCP_CREDENTIALS": "{}", "AUTHORIZATION": "Bearer x"},
            {"DB_PASSWD": R, "GCP_CREDENTIALS": R, "AUTHORIZATION": R},
        ),
        (
            {"NPM_AUTH": "x", "CLIENT_SECRET": "x", "APP_SECRET_KEY": "x"},
            {"NPM_AUTH": R, "CLIENT_SECRET": R, "APP_SECRET_KEY": R},
        ),
        ({"DATABASE_URL": "postgresql://u:p@h/db"}, {"DATABASE_URL": f"postgresql://u:{R}@h/db"}),
        ({"PIP_INDEX_URL": "https://h/simple?token=t"}, {"PIP_INDEX_URL": f"https://h/simple?token={R}"}),
        ({"EXTRA_ARGS": "--api-key abc --epochs 2"}, {"EXTRA_ARGS": f"--api-key {R} --epochs 2"}),
        (
            {
                "TOKENIZERS_PARALLELISM": "false",
                "AWS_ACCESS_KEY_ID": "AKIA",
                "HF_TOKEN_PATH": "/root/.hf/token",
                "SSH_AUTH_SOCK": "/tmp/agent.sock",
                "PATH": "/usr/bin:/bin",
                "CUDA_VISIBLE_DEVICES": "0,1",
                "EMPTY_TOKEN": "",
            },
            None,
        ),
    ],
)
def test_redact_env(env: dict[str, str], expected: dict[str, str] | None) -> None:
    assert redact_env(env) == (env if expected is None else expected)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pass@host/x", f"https://user:{R}@host/x"),
        ("https://user:p%40ss@host:8443/x?a=1", f"https://user:{R}@host:8443/x?a=1"),
        ("https://user:p@ss@host/x", f"https://user:{R}@host/x"),
        ("redis://:pw@127.0.0.1:6379/0", f"redis://:{R}@127.0.0.1:6379/0"),
        ("postgresql+psycopg://u:p@db/runplane", f"postgresql+psycopg://u:{R}@db/runplane"),
        (
            "https://h/p?token=a&sig=b&api_key=c&password=d&X-Amz-Signature=e&page=2",
            f"https://h/p?token={R}&sig={R}&api_key={R}&password={R}&X-Amz-Signature={R}&page=2",
        ),
        ("https://h/cb#access_token=a&state=s", f"https://h/cb#access_token={R}&state=s"),
        ("https://h/p?Api%5FKey=x", f"https://h/p?Api%5FKey={R}"),
        ("https://h/p?token=&flag&q=token", "https://h/p?token=&flag&q=token"),
        (
            "https://h/login?next=https://u:p@h2/x?token=t&a=1",
            f"https://h/login?next=https://u:{R}@h2/x?token={R}&a=1",
        ),
        ("https://git@github.com/o/r.git", "https://git@github.com/o/r.git"),
        ("https://user:@host/", "https://user:@host/"),
        ("https://example.com/path/to/file.csv", "https://example.com/path/to/file.csv"),
        ("not a url", "not a url"),
        ("/local/path?token=x", "/local/path?token=x"),
        ("http://[::1", "http://[::1"),
        ("", ""),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_headers() -> None:
    headers = {
        "Authorization": "Bearer abc",
        "Proxy-Authorization": "Basic dXNlcjpwYXNz",
        "Cookie": "session=abc",
        "Set-Cookie": "session=abc; HttpOnly",
        "X-API-Key": "k",
        "X-Amz-Security-Token": "t",
        "X-Client-Secret": "s",
        "Location": "https://h/next?token=t&page=2",
        "Content-Type": "text/plain; charset=utf-8",
        "Keep-Alive": "timeout=5",
        "WWW-Authenticate": 'Bearer realm="runplane"',
        "X-Request-Id": "abc",
    }
    assert redact_headers(headers) == {
        "Authorization": f"Bearer {R}",
        "Proxy-Authorization": f"Basic {R}",
        "Cookie": R,
        "Set-Cookie": R,
        "X-API-Key": R,
        "X-Amz-Security-Token": R,
        "X-Client-Secret": R,
        "Location": f"https://h/next?token={R}&page=2",
        "Content-Type": "text/plain; charset=utf-8",
        "Keep-Alive": "timeout=5",
        "WWW-Authenticate": 'Bearer realm="runplane"',
        "X-Request-Id": "abc",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("connecting to https://u:p@h/db", f"connecting to https://u:{R}@h/db"),
        ("sent Authorization: Bearer abc to h", f"sent Authorization: Bearer {R} to h"),
        ("token=abc page=2", f"token={R} page=2"),
        ("password: 'two words' ok", f"password: '{R}' ok"),
        ('{"client_secret": "s", "client_id": "c"}', f'{{"client_secret": "{R}", "client_id": "c"}}'),
        ("ran with --api-key abc --epochs 3", f"ran with --api-key {R} --epochs 3"),
        ("Basic setup done; Basic Usage", "Basic setup done; Basic Usage"),
        ("wrote /data/key=1/part.parquet", "wrote /data/key=1/part.parquet"),
        ("epoch 3 loss=0.1 max_tokens=5", "epoch 3 loss=0.1 max_tokens=5"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api-key", True),
        ("apiKey", True),
        ("APIKey", True),
        ("OAuthToken", True),
        ("hftoken", True),
        ("key", True),
        ("monkey", False),
        ("keyboard", False),
        ("key-file", False),
        ("tokenizer", False),
        ("max-new-tokens", False),
        ("no-auth", False),
        ("text-key", False),
        ("prompt-token", True),
        ("", False),
        ("---", False),
    ],
)
def test_is_secret_name(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


IDEMPOTENCE_CASES = [
    "python t.py --api-key abc --epochs 10",
    "curl -H 'Authorization: Bearer abc' 'https://u:p@h/x?a=1&token=zz#access_token=t'",
    "bash -c 'python t.py --password hunter2 --x \"a b\"'",
    'echo "unbalanced --token abc',
    'python x --config \'{"api_key": "abc"}\' API_KEY=x DATABASE_URL=postgresql://u:p@h/db',
]


@pytest.mark.parametrize("command", IDEMPOTENCE_CASES)
def test_redacting_twice_equals_once(command: str) -> None:
    once = redact_command(command)
    assert redact_command(once) == once
    args = shlex.split(command) if command.count('"') % 2 == 0 else command.split()
    assert redact_args(redact_args(args)) == redact_args(args)
    assert redact_text(redact_text(command)) == redact_text(command)
    assert redact_url(redact_url(command)) == redact_url(command)


# Property tests. Secrets are drawn from letters the other words never use, so finding one in the output
# can only mean it leaked.
_SECRET_ALPHABET = "QZXJ0123456789!$&*()'\" \\;|<>#"
_OTHER_ALPHABET = "abcdefghiklmnoprstuvwy-_./=: '\"\\"
_secrets = st.text(alphabet=_SECRET_ALPHABET, min_size=4, max_size=20).filter(
    lambda s: s.strip() and s[0] != "-"
)
_words = st.text(alphabet=_OTHER_ALPHABET, max_size=12)
_secret_options = st.sampled_from(
    ["--api-key", "--token", "--password", "--client-secret", "--hf_token", "-token"]
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    before=st.lists(_words, max_size=4),
    option=_secret_options,
    secret=_secrets,
    after=st.lists(_words, max_size=4),
    joined=st.booleans(),
)
def test_redact_command_never_shows_a_secret_option_value(
    before: list[str], option: str, secret: str, after: list[str], joined: bool
) -> None:
    middle = [f"{option}={secret}"] if joined else [option, secret]
    # Words after the secret must not start with "--" or "--token --x" would be read as a bare switch.
    after = [word for word in after if not word.startswith("-")]
    command = shlex.join([*before, *middle, *after])
    redacted = redact_command(command)
    assert secret not in redacted
    assert redact_command(redacted) == redacted


@settings(max_examples=500, deadline=None, database=None)
@given(st.text(max_size=80))
def test_redaction_never_raises_and_is_idempotent_on_any_text(text: str) -> None:
    once = redact_command(text)
    assert redact_command(once) == once
    assert redact_text(redact_text(text)) == redact_text(text)
    assert redact_url(redact_url(text)) == redact_url(text)
    assert redact_env(redact_env({"X": text, "API_TOKEN": text})) == redact_env(
        {"X": text, "API_TOKEN": text}
    )
    redact_headers({"Authorization": text, "Location": text})


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.text(max_size=20), max_size=8))
def test_redact_args_is_idempotent_on_any_arguments(args: list[str]) -> None:
    once = redact_args(args)
    assert len(once) == len(args)
    assert redact_args(once) == once


def test_secret_values_are_redacted_by_value_longest_first_and_line_by_line():
    pem = "-----BEGIN KEY-----\nAAAABBBBCCCC\n}\n-----END KEY-----"
    hidden = SecretValues(["abc", "abcdef", "", pem])
    assert hidden.redact("x abcdef y abc z") == "x <redacted> y <redacted> z"
    assert hidden.redact("line AAAABBBBCCCC } end") == "line <redacted> } end"
    assert hidden.args(["--opt", "abc", "--token", "other"]) == [
        "--opt",
        "<redacted>",
        "--token",
        "<redacted>",
    ]
    assert hidden.command("run.sh abcdef") == "run.sh <redacted>"
    assert hidden.env({"MODE": "abc", "N": "1"}) == {"MODE": "<redacted>", "N": "1"}
    assert SecretValues([]).redact("abc") == "abc"
    assert hidden.redact(hidden.redact("abc")) == "<redacted>"


# Masking keeps every character outside the masked spans: the output is the input with some spans, none
# holding a separator, quote or bracket, each replaced by the placeholder.
_STRUCTURE = ";&|()[]{}'\"\n,"
_plain = st.text(alphabet="abcdefghiklmnoprstuvwy0123456789._/", min_size=1, max_size=8)
_value = st.text(alphabet="QZXJ0123456789", min_size=3, max_size=10)


@st.composite
def _command_pieces(draw: st.DrawFn) -> str:
    kind = draw(st.integers(min_value=0, max_value=8))
    secret = draw(_value)
    quote = draw(st.sampled_from(["", "'", '"']))
    quoted = f"{quote}{secret}{quote}"
    return [
        draw(_plain),
        f"--api-key {quoted}",
        f"--token={quoted}",
        f"API_KEY={quoted}",
        f"https://user:{secret}@host/p?sig={secret}&n=1",
        f"'Authorization: Bearer {secret}'",
        f'\'{{"password": "{secret}"}}\'',
        f'-H "X-Api-Key: {secret}"',
        f"--client-secret {quoted}",
    ][kind]


@settings(max_examples=300, deadline=None, database=None)
@given(
    pieces=st.lists(_command_pieces(), min_size=1, max_size=6),
    separators=st.lists(st.sampled_from([" ", "; ", " && ", " | ", ";", "\n", " ( ", " ) "]), min_size=6),
    nested=st.booleans(),
    lead=st.sampled_from(["echo ", ""]),
)
def test_redaction_keeps_every_character_outside_the_masked_spans(
    pieces: list[str], separators: list[str], nested: bool, lead: str
) -> None:
    command = "".join(piece + separator for piece, separator in zip(pieces, separators, strict=False))
    mask = f"([^{re.escape(_STRUCTURE)}]+)"
    if nested:
        # The script may start with a secret form itself (``bash -c '--token=abc; ls'``).
        script = lead + command
        command = f"bash -c {shlex.quote(script)}; echo done"
        for shown in (redact_args(["bash", "-c", script])[2], redact_args(["-lc", script])[1]):
            parts = shown.split(R)
            assert re.fullmatch(mask.join(re.escape(part) for part in parts), script, re.DOTALL), (
                script,
                shown,
            )
    redacted = redact_command(command)
    parts = redacted.split(R)
    assert re.fullmatch(mask.join(re.escape(part) for part in parts), command, re.DOTALL), (command, redacted)


# A shell's script that starts with a secret form is masked like the same words anywhere else in it: the
# value goes, the rest of the script stays (it used to be read whole as the option's value and vanish).
@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("--token=abc echo hi", f"--token={R} echo hi"),
        ("--token=abc; echo hi", f"--token={R}; echo hi"),
        ("--api-key=s3cr3t python train.py --epochs 3", f"--api-key={R} python train.py --epochs 3"),
        ("-token=abc && ls", f"-token={R} && ls"),
        ("--password='a b' | tee x", f"--password='{R}' | tee x"),
        ("API_KEY=abc python t.py", f"API_KEY={R} python t.py"),
        ("+wandb.api_key=abc python t.py", f"+wandb.api_key={R} python t.py"),
        ("--token=abc", f"--token={R}"),
        ("--epochs=3 --token abc", f"--epochs=3 --token {R}"),
    ],
)
def test_a_shell_script_starting_with_a_secret_form_keeps_its_script(script: str, expected: str) -> None:
    for shell in (["bash", "-c"], ["sh", "-ec"], ["-lc"]):
        assert redact_args([*shell, script]) == [*shell, expected]
    if "'" not in script:
        assert shlex.split(redact_command(shlex.join(["bash", "-c", script]))) == ["bash", "-c", expected]
    # A whole argument that is not a script still loses everything after its "=": it may be one value.
    assert redact_args(["train.py", "--password=two words"]) == ["train.py", f"--password={R}"]


# Free text (audit, events, failure messages) finds a secret inside the quoted value of a harmless option,
# which the option pattern used to consume whole and skip.
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('ran bash -c "--token=abc echo hi"', f'ran bash -c "--token={R} echo hi"'),
        ('ran bash -c "echo --token=abc"', f'ran bash -c "echo --token={R}"'),
        ("x --note '--api-key abc'", f"x --note '--api-key {R}'"),
        ('x --name="a --password=abc"', f'x --name="a --password={R}"'),
        ('{"cmd": "train --token abc"}', f'{{"cmd": "train --token {R}"}}'),
        ('x --name "plain words"', 'x --name "plain words"'),
    ],
)
def test_text_redacts_inside_the_quoted_value_of_a_harmless_option(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@settings(max_examples=300, deadline=None, database=None)
@given(
    option=_secret_options,
    secret=_value,
    after=st.lists(st.text(alphabet="abcdefghiklmnoprstuvwy._/", min_size=1, max_size=8), max_size=3),
    separator=st.sampled_from([" ", "; ", " && ", " | "]),
    quote=st.sampled_from(['"', "'"]),
)
def test_a_secret_at_the_start_of_a_script_never_shows(
    option: str, secret: str, after: list[str], separator: str, quote: str
) -> None:
    script = f"{option}={secret}{separator}{' '.join(['echo', *after])}"
    shown = redact_args(["bash", "-c", script])[2]
    assert secret not in shown
    assert shown.endswith(" ".join(["echo", *after]))
    assert secret not in redact_text(f"bash -c {quote}{script}{quote}")
    assert secret not in redact_command(shlex.join(["bash", "-c", script]))


def test_secret_marks_erase_every_value_and_a_retry_puts_new_ones_back():
    from runplane.redaction import SecretMarks

    secrets = {"TOKEN": "abcd1234", "LONG": "abcd1234-and-more", "PEM": "line-one-xx\nline-two-yy"}
    marks = SecretMarks(secrets)
    stored = {
        "args": ["--token", "abcd1234", "--long=abcd1234-and-more"],
        "abcd1234": {"nested": ["x abcd1234 y", 3, None]},
        "pem": "only line-two-yy here",
    }
    erased = marks.erase(secrets, stored)
    assert all(value not in repr(erased) for value in ("abcd1234", "line-two-yy"))
    # A value containing another is marked whole (longest first); a line of a multi-line value is redacted.
    assert erased["pem"] == f"only {REDACTED} here"
    again = {"TOKEN": "new-token", "LONG": "new-long", "PEM": "new-pem"}
    restored = marks.restore(again, erased)
    assert restored["args"] == ["--token", "new-token", "--long=new-long"]
    assert restored["new-token"] == {"nested": ["x new-token y", 3, None]}
    # Nothing to erase leaves the value as it was; a secret not given again leaves its mark.
    assert marks.erase({}, stored) is stored
    assert marks.restore({"LONG": "z"}, erased)["args"][1] == erased["args"][1]
