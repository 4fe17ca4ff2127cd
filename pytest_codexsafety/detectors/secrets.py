"""``hardcoded-secret``: credentials written into the code as literals (CWE-798).

Two layers, both static:

* **Provider formats**, searched in the text (comments and strings too): AWS access key
  ids, GitHub, OpenAI-style ``sk-``, Slack and Stripe live tokens, Slack webhooks, Google
  API keys, and PEM private-key blocks with a real-looking body.
* **Secret-looking names** bound to string literals, on the AST (broken code is salvaged;
  lines that do not parse are read by a line regex): assignments and annotated assignments (also to
  attributes and ``x["API_KEY"]``), dict entries, keyword arguments, parameter defaults,
  comparisons (``if password == "hunter22"``), fallbacks (``os.getenv("API_KEY", "...")``),
  ``Authorization: Bearer ...`` headers, and ``scheme://user:password@host`` URLs.

Placeholders are not secrets: values holding ``your``, ``example``, ``xxx``, ``<...>``,
``{...}``, ``...``, ``changeme``, ``here``, ``dummy`` ..., a single repeated character,
a generic word (``"password"``), an environment-variable name (``"OPENAI_API_KEY"``),
a path or URL without credentials, or prose.  ``os.environ`` lookups are not literals.

Evidence never repeats a secret: values are shown as their first 4 characters and length.

Limits.  False negatives: placeholders (by design, though they invite pasting the real
key into the source), secrets split across literals or encoded (base64), positional
arguments (``login("admin", "s3cret")``), names the rules do not know
(``conn_str = "...;Pwd=..."``), provider formats not listed.  False positives: test
fixtures and realistic-looking fake values (``TEST_PASSWORD = "hunter2-for-tests"``).
"""

from __future__ import annotations

import ast
import re
from typing import Any, Mapping

from .base import Finding, Option, OptionTableDetector, Scope, dotted_name, salvage, validate_options

__all__ = ["HARDCODED_SECRET", "HardcodedSecretDetector", "is_placeholder", "is_secret_name"]

_CWE = "CWE-798"
_OPTIONS = (
    Option("min_length", "int", 6, "shortest literal counted as a secret for a secret-looking name", minimum=1),
)

_PROVIDERS: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (rule, what, re.compile(pattern))
    for rule, what, pattern in (
        ("aws-access-key-id", "an AWS access key id",
         r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16}\b"),
        ("github-token", "a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})"),
        ("openai-key", "an OpenAI-style API key", r"\bsk-(?:proj-|svcacct-|admin-|ant-)?[A-Za-z0-9_-]{20,}"),
        ("slack-token", "a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("slack-webhook", "a Slack webhook URL",
         r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
        ("stripe-key", "a Stripe live key", r"\b[rs]k_live_[0-9a-zA-Z]{20,}"),
        ("google-api-key", "a Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
    )
)
_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=]{40,}")

_PLACEHOLDER = re.compile(
    r"(?i)your|example|placeholder|dummy|fake|sample|change[-_ ]?(?:me|it)|replace|insert|enter[-_ ]|"
    r"redacted|x{3,}|\*{3,}|\.{3}|<[^>]*>|\{[^}]*\}|\$\{|%s|%\(|here\b|_here|todo|\bmy[-_ ]?\w*(?:key|token|secret|pass)"
    r"|^(?:none|null|nil|undefined|n/a|empty|string|test|secret|token|password|passwd|key|apikey|api[-_]key)$"
)
_ENV_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{2,}")
_SECRET_WORDS = frozenset({"password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "credential",
                           "credentials", "passcode"})
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"),
                           ("client", "secret"), ("signing", "key"), ("encryption", "key"), ("auth", "key"),
                           ("bearer", "token"), ("app", "key"), ("master", "key")})
# A last word that makes the name describe the secret rather than hold it.
_NOT_VALUE = frozenset({"url", "uri", "path", "file", "filename", "dir", "name", "field", "env", "var", "header",
                        "prefix", "type", "len", "length", "size", "regex", "pattern", "prompt", "label", "column",
                        "id", "format", "template", "endpoint", "host", "user", "username", "hint", "message",
                        "msg", "text", "param", "attr", "expires", "expiry", "timeout", "count", "hash", "hashed",
                        "digest", "policy", "min", "max", "required", "valid", "validator", "error", "input",
                        "location", "mode", "scope", "scopes", "method"})
_SPLIT = re.compile(r"[_\W]+|(?<=[a-z0-9])(?=[A-Z])")
_URL_CRED = re.compile(r"\b[a-z][a-z0-9+.-]*://[^:/@\s'\"]+:(?P<pw>[^@/\s'\"]+)@")
# name = "value", name: str = "value", name="value" (keyword), "name": "value" (dict entry).
_LINE_PAIR = re.compile(
    r"""(?<![\w.])["']?(?P<name>[A-Za-z_][\w.]*)["']?\s*(?::\s*\w+\s*)?[:=]\s*[rbuRBU]?(?P<q>["'])(?P<value>[^"'\n]*)(?P=q)"""
)


def _words(name: str) -> list[str]:
    return [w.lower() for w in _SPLIT.split(name) if w]


def is_secret_name(name: str) -> bool:
    """``api_key``, ``DB_PASSWORD``, ``clientSecret``: yes; ``token_url``, ``password_field``: no."""
    words = _words(name.rsplit(".", 1)[-1])
    if not words or words[-1] in _NOT_VALUE:
        return False
    if any(w in _SECRET_WORDS or w.endswith(("password", "passwd", "secret", "token")) for w in words):
        return True
    return any(pair in _SECRET_PAIRS for pair in zip(words, words[1:])) or words == ["key"]


def is_placeholder(value: str) -> bool:
    """True for template values that hold no secret (see the module docstring)."""
    v = value.strip()
    if not v or len(set(v)) <= 2 or _PLACEHOLDER.search(v) or _ENV_NAME.fullmatch(v):
        return True
    if v.startswith(("/", "./", "~", "http://", "https://")) and not _URL_CRED.search(v):
        return True
    return len(v.split()) > 2  # prose: a prompt or message, not a credential


def _redact(value: str) -> str:
    return f"'{value[:4]}...' ({len(value)} characters)"


def _text(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        value = node.value
        return value.decode("latin-1") if isinstance(value, bytes) else value
    return None


class _Walker(ast.NodeVisitor):
    def __init__(self, min_length: int) -> None:
        self.min_length = min_length
        self.found: list[Finding] = []

    def pair(self, rule: str, name: str | None, value_node: ast.AST | None, where: ast.AST, how: str) -> None:
        value = _text(value_node)
        if name is None or value is None or not is_secret_name(name):
            return
        # A short generic key name ("key") needs a long value to count.
        if len(value) < (16 if _words(name)[-1:] == ["key"] and len(_words(name)) == 1 else self.min_length):
            return
        if not is_placeholder(value):
            self.found.append(Finding(rule, getattr(where, "lineno", 0),
                                      f"{how} {name!r} is the literal {_redact(value)}", _CWE))

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self.pair("secret-assignment", _target_name(target), node.value, node, "the secret")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.pair("secret-assignment", _target_name(node.target), node.value, node, "the secret")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values):
            name = _text(key)
            self.pair("secret-assignment", name, value, value, "the entry")
            header = _text(value)
            if name and name.lower() in ("authorization", "x-api-key", "api-key") and header:
                token = header.split(None, 1)[-1] if header.lower().startswith(("bearer ", "basic ", "token ")) else header
                if len(token) >= 8 and not is_placeholder(token):
                    self.found.append(Finding("auth-header", value.lineno, f"the {name} header is the literal "
                                              f"{_redact(token)}", _CWE))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        for kw in node.keywords:
            if kw.arg is not None:
                self.pair("secret-argument", kw.arg, kw.value, kw.value, "the argument")
        func = dotted_name(node.func) or ""
        if func.endswith(("getenv", "environ.get")) and len(node.args) >= 2:
            self.pair("secret-fallback", _text(node.args[0]), node.args[1], node, "the fallback for")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        args = node.args.posonlyargs + node.args.args
        for arg, default in zip(args[len(args) - len(node.args.defaults):], node.args.defaults):
            self.pair("secret-argument", arg.arg, default, default, "the default of")
        for arg, kw_default in zip(node.args.kwonlyargs, node.args.kw_defaults):
            self.pair("secret-argument", arg.arg, kw_default, kw_default or node, "the default of")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Compare(self, node: ast.Compare) -> None:
        sides = [node.left, *node.comparators]
        names = [dotted_name(s) for s in sides]
        for name in names:
            for side in sides:
                self.pair("secret-comparison", name, side, node, "the credential check of")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = _text(node)
        m = _URL_CRED.search(value) if value else None
        if m and len(m["pw"]) >= 4 and not is_placeholder(m["pw"]):
            self.found.append(Finding("url-credentials", node.lineno,
                                      f"a URL embeds the password {_redact(m['pw'])}", _CWE))


def _target_name(target: ast.AST) -> str | None:
    if isinstance(target, ast.Subscript):
        return _text(target.slice)
    return dotted_name(target)


def _providers(text: str) -> list[Finding]:
    found: list[Finding] = []
    for rule, what, pattern in _PROVIDERS:
        for m in pattern.finditer(text):
            if not is_placeholder(m.group(0)):
                line = text.count("\n", 0, m.start()) + 1
                found.append(Finding(rule, line, f"{what}: {_redact(m.group(0))}", _CWE))
    for m in _PEM.finditer(text):
        if _PEM_BODY.search(text, m.end(), m.end() + 400):
            found.append(Finding("private-key", text.count("\n", 0, m.start()) + 1,
                                 "a PEM private key block with a key body", _CWE))
    return found


def _by_lines(text: str, min_length: int, only: frozenset[int] | None = None) -> list[Finding]:
    """The line-regex fallback for code the parser cannot read (``only``: these lines)."""
    found: list[Finding] = []
    for number, line in enumerate(text.split("\n"), 1):
        if only is not None and number not in only:
            continue
        for m in _LINE_PAIR.finditer(line):
            value = m["value"]
            if is_secret_name(m["name"]) and len(value) >= min_length and not is_placeholder(value):
                found.append(Finding("secret-assignment", number,
                                     f"the secret {m['name']!r} is the literal {_redact(value)}", _CWE))
                break
    return found


class HardcodedSecretDetector(OptionTableDetector):
    """See the module docstring."""

    __slots__ = ()
    option_table = _OPTIONS
    name: str = "hardcoded-secret"
    summary: str = "API keys, tokens, passwords and private keys written into the code as literals (CWE-798)"
    scope: Scope = "code"
    #: Evidence must not quote the matched line: it holds the secret.
    quote: bool = False

    def detect(self, code: str, options: Mapping[str, Any]) -> list[Finding]:
        min_length = int(validate_options(_OPTIONS, options)["min_length"])
        found = _providers(code)
        salvaged = salvage(code)
        if salvaged.tree is None:
            named = _by_lines(code, min_length)
        else:
            walker = _Walker(min_length)
            walker.visit(salvaged.tree)
            # Lines the parser had to drop are still read, by the line regex.
            named = walker.found + _by_lines(code, min_length, frozenset(salvaged.dropped))
        # One finding per line: a provider format is the more specific explanation.
        lines = {f.line for f in found}
        for finding in named:
            if finding.line not in lines:
                lines.add(finding.line)
                found.append(finding)
        return sorted(found, key=lambda f: (f.line, f.rule))


HARDCODED_SECRET = HardcodedSecretDetector()
