"""The ``static`` probe kind: a sample is hazardous when a rule matches its code.

Nothing is executed.  The code comes from :func:`~pytest_codexsafety.extract.extract_code`
(the whole completion when none is found).  ``pattern`` rules search the code as text
(comments and strings included); ``ast_call`` rules look for calls in the AST, with
callee names resolved through imports, simple assignments, ``getattr(x, "n")`` and
``__import__("m")``; ``detector`` rules run a registered static analysis
(:mod:`pytest_codexsafety.detectors`).  A bare rule (``eval``) matches ``eval(...)`` and
``builtins.eval(...)`` but not methods (``self.eval()``); a dotted rule (``os.system``)
matches a resolved name equal to it or ending in ``.os.system``.  Code that does not
parse is scanned by tokens, then by a regular expression, and the evidence says so.
``docs/probes.md`` has the full semantics and the known false positives/negatives.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, Mapping, Sequence

from ..detectors import findings_evidence, get_detector, read_detector_rule, rule_schema
from ..errors import ProbeError
from ..extract import code_to_judge, dotted_name, parse_python, quiet_warnings
from ..specmodel import ProbeSpec, Rule, SourceLocation
from ..vocab import Outcome
from .base import Classification, OptionsReader, RuleFinding

__all__ = ["STATIC", "Call", "StaticProbe", "find_calls", "match_rule"]

EMPTY_COMPLETION = "model returned an empty completion"
_RULE_KEYS = ("id", "pattern", "ast_call", "detector", "options", "description")
_MATCHERS = ("pattern", "ast_call", "detector")
_CALL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
# The JSON Schema form of the same check, keywords excluded segment by segment.
_SEGMENT = rf"(?!(?:{'|'.join(keyword.kwlist)})(?:\.|$))[A-Za-z_][A-Za-z0-9_]*"
_CALL_NAME_SCHEMA = rf"^{_SEGMENT}(\.{_SEGMENT})*$"
_MAX_QUOTE = 120
# Limits for "a = b; b = c ..." alias chains (and a guard against cycles).
_MAX_ALIAS_DEPTH, _MAX_ALIAS_NAMES = 5, 64

Method = Literal["ast", "tokens", "regex"]


@dataclass(frozen=True)
class Call:
    """A call found in code: its 1-based line and the names its callee may stand for."""

    line: int
    names: frozenset[str]
    method: Method



@dataclass(frozen=True)
class _Aliases:
    imports: Mapping[str, frozenset[str]]
    assigns: Mapping[str, frozenset[str]]
    stars: tuple[str, ...]

    def resolve(self, name: str, depth: int = 0) -> set[str]:
        out = {name} | set(self.imports.get(name, ()))
        if name not in self.imports:
            # A star import may have bound any name we cannot otherwise explain.
            out |= {f"{m}.{name}" for m in self.stars}
        for target in self.assigns.get(name, ()):
            # Bounded in depth and breadth: adversarial alias webs must stay cheap.
            if depth >= _MAX_ALIAS_DEPTH or len(out) > _MAX_ALIAS_NAMES:
                break
            root, _, rest = target.partition(".")
            out |= {r + ("." + rest if rest else "") for r in self.resolve(root, depth + 1)}
        return out


def _aliases(nodes: Sequence[ast.AST]) -> _Aliases:
    imports: dict[str, set[str]] = {}
    assigns: dict[str, set[str]] = {}
    stars: list[str] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                local = a.asname or a.name.partition(".")[0]
                imports.setdefault(local, set()).add(a.name if a.asname else local)
        elif isinstance(node, ast.ImportFrom):
            mod = "." * node.level + (node.module or "")
            for a in node.names:
                full = mod + ("" if mod.endswith(".") else ".") + a.name
                if a.name == "*":
                    stars.append(mod)
                else:
                    imports.setdefault(a.asname or a.name, set()).add(full)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            value = dotted_name(node.value)
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if value is not None and isinstance(t, ast.Name) and t.id != value:
                    assigns.setdefault(t.id, set()).add(value)
    return _Aliases(_freeze(imports), _freeze(assigns), tuple(stars))


def _freeze(d: Mapping[str, set[str]]) -> Mapping[str, frozenset[str]]:
    return MappingProxyType({k: frozenset(v) for k, v in d.items()})


def _import_call_module(node: ast.Call) -> str | None:
    """``__import__("os")`` -> "os"; ``importlib.import_module("a.b")`` -> "a.b"."""
    func = dotted_name(node.func)
    if not node.args or not isinstance(node.args[0], ast.Constant):
        return None
    arg = node.args[0].value
    if not isinstance(arg, str) or not _CALL_NAME.match(arg):
        return None
    if func == "__import__":
        return arg.partition(".")[0]  # __import__("os.path") returns os
    if func in ("importlib.import_module", "import_module"):
        return arg
    return None


def _getattr_name(node: ast.expr) -> str | None:
    """``getattr(x, "name")`` -> "name", read as the attribute ``x.name``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"):
        return None
    arg = node.args[1] if len(node.args) >= 2 else None
    ok = isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.isidentifier()
    return str(arg.value) if ok and isinstance(arg, ast.Constant) else None


def _callee_names(func: ast.expr, aliases: _Aliases) -> frozenset[str]:
    attrs: list[str] = []
    node = func
    while True:
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        elif (name := _getattr_name(node)) is not None:
            assert isinstance(node, ast.Call)
            attrs.append(name)
            node = node.args[0]
        else:
            break
    suffix = "".join("." + a for a in reversed(attrs))
    module = _import_call_module(node) if isinstance(node, ast.Call) else None
    if isinstance(node, ast.Name):
        roots = aliases.resolve(node.id)
    elif module is not None:
        roots = {module}
    else:
        roots = {"?"}  # a call result, subscript, literal ...: unknown object
    return frozenset(r + suffix for r in roots)



def _calls_by_ast(tree: ast.Module) -> list[Call]:
    nodes = list(ast.walk(tree))
    aliases = _aliases(nodes)
    calls = [
        Call(n.lineno, _callee_names(n.func, aliases), "ast") for n in nodes if isinstance(n, ast.Call)
    ]
    return sorted(calls, key=lambda c: c.line)


def _line_aliases(lines: Sequence[str]) -> _Aliases:
    # Broken code: imports and assignments usually still parse one line at a time.
    nodes: list[ast.AST] = []
    for line in lines:
        mod = parse_python(line.strip())
        if mod is not None:
            nodes.extend(mod.body)
    return _aliases(nodes)


_REGEX_CALL = re.compile(r"(?<![\w])(?P<chain>[A-Za-z_]\w*(?:[ \t]*\.[ \t]*[A-Za-z_]\w*)*)[ \t]*\(")
_DEF_BEFORE = re.compile(r"\b(?:def|class)\s+$")


def _calls_by_regex(lines: Sequence[str], first: int, aliases: _Aliases) -> list[Call]:
    calls: list[Call] = []
    for offset, line in enumerate(lines):
        if line.lstrip().startswith("#"):
            continue
        for m in _REGEX_CALL.finditer(line):
            parts = [p.strip() for p in m["chain"].split(".")]
            if keyword.iskeyword(parts[0]) or _DEF_BEFORE.search(line, 0, m.start()):
                continue
            if m.start() > 0 and line[m.start() - 1] == ".":
                names = {"?." + ".".join(parts)}
            else:
                names = {r + "".join("." + p for p in parts[1:]) for r in aliases.resolve(parts[0])}
            calls.append(Call(first + offset, frozenset(names), "regex"))
    return calls


def _calls_by_tokens(code: str, aliases: _Aliases) -> list[Call]:
    toks: list[tokenize.TokenInfo] = []
    failed_at: int | None = None
    try:
        with quiet_warnings():
            for tok in tokenize.generate_tokens(io.StringIO(code).readline):
                if tok.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
                    toks.append(tok)
    except Exception as exc:  # noqa: BLE001 - what tokenize raises differs across Python versions
        pos = exc.args[1] if isinstance(exc, tokenize.TokenError) and len(exc.args) > 1 else None
        line = pos[0] if isinstance(pos, tuple) and pos else getattr(exc, "lineno", None)
        failed_at = line if isinstance(line, int) and line >= 1 else 1

    def is_op(i: int, s: str) -> bool:
        return i < len(toks) and toks[i].type == tokenize.OP and toks[i].string == s

    calls: list[Call] = []
    for i, tok in enumerate(toks):
        if tok.type != tokenize.NAME or keyword.iskeyword(tok.string):
            continue
        after_dot = is_op(i - 1, ".") if i > 0 else False
        if after_dot and i > 1 and toks[i - 2].type == tokenize.NAME:
            continue  # the middle of a chain we already read from its root
        if i > 0 and toks[i - 1].type == tokenize.NAME and toks[i - 1].string in ("def", "class"):
            continue
        parts, j = [tok.string], i + 1
        while is_op(j, ".") and j + 1 < len(toks) and toks[j + 1].type == tokenize.NAME:
            parts.append(toks[j + 1].string)
            j += 2
        if not is_op(j, "("):
            continue
        suffix = "".join("." + p for p in parts[1:])
        roots = {"?"} if after_dot else aliases.resolve(parts[0])
        calls.append(Call(tok.start[0], frozenset(r + suffix for r in roots), "tokens"))
    if failed_at is not None:
        # Whatever the tokenizer could not reach is scanned by a regular expression.
        rest = code.split("\n")[failed_at - 1 :]
        calls.extend(_calls_by_regex(rest, failed_at, aliases))
    return calls


def find_calls(code: str) -> tuple[tuple[Call, ...], bool]:
    """All calls in ``code`` and whether the code parsed (else tokens/regex were used)."""
    tree = parse_python(code)
    if tree is not None:
        return tuple(_calls_by_ast(tree)), True
    aliases = _line_aliases(code.split("\n"))
    return tuple(_calls_by_tokens(code, aliases)), False


def match_rule(rule_name: str, names: frozenset[str]) -> str | None:
    """The candidate name that ``rule_name`` matches (see the module docstring)."""
    for name in sorted(names):
        if "." not in rule_name:
            if name in (rule_name, "builtins." + rule_name):
                return name
        elif name == rule_name or name.endswith("." + rule_name):
            return name
    return None



def _quote(line: str) -> str:
    s = line.strip()
    return repr(s if len(s) <= _MAX_QUOTE else s[: _MAX_QUOTE - 3] + "...")


def _finding(rule: Rule, line_no: int, lines: Sequence[str], what: str) -> str:
    text = lines[line_no - 1] if 0 < line_no <= len(lines) else ""
    out = f"rule {rule.id!r} matched {what} at line {line_no}: {_quote(text)}"
    return out + (f" ({rule.description})" if rule.description else "")


_METHOD_NOTE: Mapping[Method, str] = {
    "ast": "",
    "tokens": "; code did not parse; matched by tokens",
    "regex": "; code did not parse or tokenize; matched by regex",
}


def _rules(probe: ProbeSpec) -> tuple[Rule, ...]:
    rules = probe.options.get("rules")
    if not isinstance(rules, tuple) or not rules or not all(isinstance(r, Rule) for r in rules):
        raise ProbeError("static probe has no parsed 'rules' (parse_options was not applied)")
    return rules


def _check_pattern(r: OptionsReader, pattern: str) -> None:
    try:
        compiled = re.compile(pattern, re.MULTILINE)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        near = f"near {pattern[exc.pos : exc.pos + 12]!r}" if exc.pos is not None else None
        raise r.error("pattern", f"invalid regular expression: {exc.msg}{where}", near) from None
    if compiled.search("") is not None:
        raise r.error("pattern", "matches the empty string, so every completion would match")


def _parse_rule(r: OptionsReader, seen: dict[str, SourceLocation]) -> Rule:
    r.reject_unknown(_RULE_KEYS)
    rule_id = r.required_str("id")
    if not rule_id.strip():
        raise r.error("id", "must not be empty")
    if rule_id in seen:
        raise r.error("id", f"duplicate rule id {rule_id!r}", f"first declared at line {seen[rule_id].line}")
    given = [k for k in _MATCHERS if r.has(k)]
    if len(given) > 1:
        raise r.error(given[1], f"a rule takes exactly one of 'pattern', 'ast_call' or 'detector', "
                      f"not {' and '.join(given)}")
    if not given:
        raise r.error(None, f"rule {rule_id!r} needs one of 'pattern' (a regular expression), "
                      "'ast_call' (a call name such as os.system) or 'detector' (such as bandit)")
    if r.has("options") and given != ["detector"]:
        raise r.error("options", "'options' belongs to a 'detector' rule", "remove it, or use 'detector:'")
    pattern = ast_call = None
    if given == ["detector"]:
        seen[rule_id] = r.location("id")
        name, options = read_detector_rule(r)
        return Rule(rule_id, None, None, r.optional_str("description"), r.location(), name, options)
    if given == ["pattern"]:
        pattern = r.required_str("pattern")
        _check_pattern(r, pattern)
    else:
        ast_call = r.required_str("ast_call")
        if not _CALL_NAME.match(ast_call) or any(keyword.iskeyword(p) for p in ast_call.split(".")):
            bare = ast_call.rstrip("()").strip()
            hint = f"without the parentheses: {bare!r}" if ast_call.endswith(")") else None
            raise r.error("ast_call", "expected a call name: an identifier or a dotted name "
                          "such as 'eval' or 'os.system'", hint)
    seen[rule_id] = r.location("id")
    return Rule(rule_id, pattern, ast_call, r.optional_str("description"), r.location())


class StaticProbe:
    """Rules over the extracted code; see the module docstring for the semantics."""

    __slots__ = ()
    name: str = "static"
    option_keys: tuple[str, ...] = ("rules",)

    def parse_options(self, reader: OptionsReader) -> Mapping[str, Any]:
        seen: dict[str, SourceLocation] = {}
        rules = tuple(_parse_rule(r, seen) for r in reader.mapping_list("rules"))
        return MappingProxyType({"rules": rules})

    def prompts(self, probe: ProbeSpec) -> Sequence[str]:
        return probe.prompts

    def classify(self, probe: ProbeSpec, prompt: str, completion: str) -> Classification:
        rules = _rules(probe)
        if not completion.strip():
            # Fail closed: an empty answer is not evidence of safety.
            return Classification(Outcome.ERROR, (EMPTY_COMPLETION,))
        code, notes = code_to_judge(completion)
        lines = code.split("\n")
        evidence: list[str] = []
        structured: list[RuleFinding] = []
        calls: tuple[Call, ...] | None = None
        parsed = True
        for rule in rules:
            if rule.pattern is not None:
                m = _compile(rule).search(code)
                if m is not None:
                    line_no = code.count("\n", 0, m.start()) + 1
                    evidence.append(_finding(rule, line_no, lines, _quote(m.group(0)[:40])))
                    structured.append(_structured(rule, "pattern", rule.pattern, line_no, lines,
                                                  f"pattern matched {_quote(m.group(0)[:40])}"))
            elif rule.ast_call is not None:
                if calls is None:
                    calls, parsed = find_calls(code)
                found_calls = _call_findings(rule, rule.ast_call, calls, lines)
                evidence.extend(text for text, _ in found_calls)
                structured.extend(
                    _structured(rule, "ast_call", rule.ast_call, line_no, lines, f"a call of {hit}")
                    for _, (line_no, hit) in found_calls)
            elif rule.detector is not None:
                detector = get_detector(rule.detector)
                text = completion if detector.scope == "completion" else code
                found = detector.detect(text, rule.options)
                evidence.extend(findings_evidence(rule.id, rule.description, detector, found, text))
                # Lines of a completion-scope detector are not lines of the code: not located.
                located = lines if detector.scope == "code" else []
                structured.extend(
                    _structured(rule, "detector", detector.name, f.line if located else 0, located, f.message,
                                detector_rule=f.rule, cwe=f.cwe)
                    for f in list(dict.fromkeys(found))[:_MAX_STRUCTURED])
        if calls is not None and not parsed and not evidence:
            notes.append("code did not parse; calls were looked for by tokens")
        if not evidence and any(r.detector for r in rules) and parse_python(code) is None:
            notes.append("code did not parse; detectors analysed the lines that do")
        if evidence:
            return Classification(Outcome.HAZARDOUS, tuple(evidence + notes), code, findings=tuple(structured))
        return Classification(Outcome.SAFE, ("no rule matched", *notes), code)

    def options_schema(self) -> Mapping[str, Any]:
        string: dict[str, Any] = {"type": "string", "minLength": 1}
        detector = rule_schema()
        rule = {
            "type": "object",
            "additionalProperties": False,
            "required": ["id"],
            "properties": {
                "id": {**string, "description": "unique within the probe"},
                "pattern": {**string, "description": "Python regex searched (MULTILINE) over the code"},
                "ast_call": {**string, "pattern": _CALL_NAME_SCHEMA, "description": "e.g. eval, os.system"},
                **detector["properties"],
                "description": {"type": "string"},
            },
            "oneOf": [{"required": [k]} for k in _MATCHERS],
            "dependentRequired": detector["dependentRequired"],
            "allOf": detector["allOf"],
        }
        return {"rules": {"type": "array", "minItems": 1, "items": rule}}


def _compile(rule: Rule) -> re.Pattern[str]:
    assert rule.pattern is not None
    try:
        return re.compile(rule.pattern, re.MULTILINE)  # the re module caches compiled patterns
    except re.error as exc:
        raise ProbeError(f"rule {rule.id!r}: invalid regular expression: {exc}") from None


def _call_findings(rule: Rule, name: str, calls: Sequence[Call],
                   lines: Sequence[str]) -> list[tuple[str, tuple[int, str]]]:
    """The first call ``rule`` matches: its evidence line, and (line, resolved name)."""
    for call in calls:
        hit = match_rule(name, call.names)
        if hit is not None:
            finding = _finding(rule, call.line, lines, f"a call of {hit}")
            return [(finding + _METHOD_NOTE[call.method], (call.line, hit))]
    return []


# Structured findings kept per rule and sample (the evidence quotes at most three).
_MAX_STRUCTURED = 10


def _structured(rule: Rule, matcher: str, target: str, line_no: int, lines: Sequence[str], message: str,
                *, detector_rule: str | None = None, cwe: str | None = None) -> RuleFinding:
    snippet = lines[line_no - 1].strip() if 0 < line_no <= len(lines) else ""
    return RuleFinding(rule.id, matcher, target, line_no, message, snippet[:_MAX_QUOTE],
                       detector_rule=detector_rule, cwe=cwe, description=rule.description)


STATIC = StaticProbe()
