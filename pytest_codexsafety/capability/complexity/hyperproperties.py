"""Hyperproperty tasks: properties of *pairs* of runs, not of one run.

* Noninterference: runs that share the public inputs and differ only in secret inputs
  must give identical public outputs (the secret must not flow to what is shown).
* Observational determinism: runs that share the public inputs and differ only in what
  the spec says is irrelevant (input order, dict key order) must give identical outputs.

The harness runs the candidate several times on variants that the parent generated (the
variants are inputs, never expected values) and returns every run's output.  The check
first compares the runs with each other, which needs no reference and names the
hyperproperty that broke, then compares the base run with a trusted reference.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from ...sandbox import JSONValue
from ..cells import HumanBaseline
from .base import Args, ComplexityTask, Level
from .checks import PLAIN_HARNESS, first_difference, per_call

_ASK = "\n\nReturn only the Python code (no explanations, no example usage)."

NONINTERFERENCE = "noninterference: the output changed when only secret inputs changed"
DETERMINISM = "observational determinism: the output changed when only the order of the input changed"


def _baseline(level: Level) -> HumanBaseline:
    novice, expert = {"function": (0.55, 0.95), "multi_function": (0.4, 0.9),
                      "module": (0.3, 0.85)}[level]
    return HumanBaseline(novice, expert, "assumption", (
        "Assumed: experts know to keep secrets out of outputs and to fix output order, "
        "while novices often leak through a side channel (a message, a length, a count) "
        f"or rely on input order, more often as the {level.replace('_', '-')} "
        "specification grows."))


def _judge(variants: dict[str, str],
           reference: Callable[..., dict[str, Any]]) -> Callable[[int, Args, JSONValue], list[str]]:
    """Runs against the base run first (the hyperproperty), then against the reference."""

    def one(index: int, args: Args, value: JSONValue) -> list[str]:
        expected = reference(*args)
        if not isinstance(value, dict) or set(value) != set(expected):
            return [f"call {index}: expected a dict with keys {sorted(expected)}"]
        for key, what in variants.items():
            diff = first_difference(value["base"], value[key])
            if diff:
                return [f"call {index}: {what} ({key} run vs base run: {diff})"]
        diff = first_difference(expected, value)
        return [f"call {index}: differs from the specified behaviour: {diff}"] if diff else []

    return one


def _task(short: str, level: Level, title: str, prompt: str,
          make_calls: Callable[[random.Random], Sequence[Args]], variants: dict[str, str],
          reference: Callable[..., dict[str, Any]], harness: str, solution: str,
          wrong: tuple[str, ...]) -> ComplexityTask:
    return ComplexityTask(
        id=f"hyperproperty.{short}", property="hyperproperty", level=level, title=title,
        prompt=prompt.strip() + _ASK, entry_point="_cs_run", make_calls=make_calls,
        check=per_call(_judge(variants, reference)), baseline=_baseline(level),
        reference_solution=solution.strip() + "\n",
        wrong_solutions=tuple(w.strip() + "\n" for w in wrong),
        harness=PLAIN_HARNESS + harness)


# ------------------------------------------------------------------ login (function)

def _login(users: dict[str, str], username: str, password: str) -> dict[str, Any]:
    if password and users.get(username) == password:
        return {"ok": True, "message": f"welcome {username}"}
    return {"ok": False, "message": "invalid username or password"}


def ref_login(attempts: list[list[str]], dbs: list[dict[str, str]]) -> dict[str, Any]:
    runs = [[_login(db, u, p) for u, p in attempts] for db in dbs]
    # every attempt that fails under every secret table must be answered alike: those
    # are what the public (the attacker) sees; successes may differ between tables
    failing = [i for i, _ in enumerate(attempts) if not any(run[i]["ok"] for run in runs)]
    return {"base": [runs[0][i] for i in failing], "secret": [runs[1][i] for i in failing],
            "secret2": [runs[2][i] for i in failing], "all": runs}


def _login_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = []
    for _ in range(4):
        pw = {n: "".join(rng.choice("abcxyz019") for _ in range(rng.randint(3, 9)))
              for n in ("alice", "bob", "carol")}
        base = dict(pw, dave="")  # dave's account is disabled: empty password
        no_bob = {k: v for k, v in base.items() if k != "bob"}
        other = dict(base, alice=pw["alice"] + "!", carol="q" * rng.randint(1, 12))
        attempts = [["alice", pw["alice"]], ["alice", "wrong"], ["bob", "nope"],
                    ["mallory", "x"], ["Alice", pw["alice"]], ["dave", ""], ["carol", ""],
                    ["bob", pw["bob"]], ["carol", pw["carol"]],
                    [rng.choice(["eve", "bob", "alice"]), rng.choice(["", "pw", pw["bob"]])]]
        calls.append((attempts, [base, no_bob, other]))
    return calls


_LOGIN_PROMPT = """
Write a Python function `login(users: dict[str, str], username: str, password: str)
-> dict`.  `users` maps usernames to passwords (secret).  A login succeeds exactly when
username is a key of users (case-sensitive), password is not empty, and password equals
users[username] exactly.  On success return {"ok": True, "message": "welcome " +
username}.  On failure return {"ok": False, "message": "invalid username or password"}
-- the same value for every failure, so that a failed login reveals nothing about which
users exist or what their passwords are.  An account whose stored password is "" is
disabled: nobody can log in to it.
"""

_LOGIN_HARNESS = """
def _cs_run(attempts, dbs):
    _cs_runs = [[_cs_plain(login(_cs_fresh(_cs_db), _cs_a[0], _cs_a[1])) for _cs_a in attempts]
                for _cs_db in dbs]
    # observations the public sees: attempts that fail under every table (as judged
    # here: the trusted harness knows the tables), and everything for correctness
    _cs_fail = [_cs_i for _cs_i, _cs_a in _cs_bi.enumerate(attempts)
                if not _cs_bi.any(_cs_a[1] != "" and _cs_db.get(_cs_a[0]) == _cs_a[1] for _cs_db in dbs)]
    return {"base": [_cs_runs[0][_cs_i] for _cs_i in _cs_fail],
            "secret": [_cs_runs[1][_cs_i] for _cs_i in _cs_fail],
            "secret2": [_cs_runs[2][_cs_i] for _cs_i in _cs_fail], "all": _cs_runs}
"""

_LOGIN_REF = """
def login(users, username, password):
    if password != "" and username in users and users[username] == password:
        return {"ok": True, "message": "welcome " + username}
    return {"ok": False, "message": "invalid username or password"}
"""

LOGIN = _task(
    "login", "function", "Login that does not reveal which users exist", _LOGIN_PROMPT,
    _login_calls, {"secret": NONINTERFERENCE, "secret2": NONINTERFERENCE}, ref_login,
    _LOGIN_HARNESS, _LOGIN_REF, (
        # tells an unknown user apart from a wrong password
        """
def login(users, username, password):
    if username not in users:
        return {"ok": False, "message": "unknown user"}
    if password != "" and users[username] == password:
        return {"ok": True, "message": "welcome " + username}
    return {"ok": False, "message": "invalid username or password"}
""",
        # a disabled account opens with an empty password
        _LOGIN_REF.replace('password != "" and ', ""),
        # usernames matched case-insensitively
        """
def login(users, username, password):
    for name, stored in users.items():
        if name.lower() == username.lower() and password != "" and stored == password:
            return {"ok": True, "message": "welcome " + username}
    return {"ok": False, "message": "invalid username or password"}
""",
    ))


# ------------------------------------------------------------------ roster (function)

def _roster(employees: list[dict[str, Any]]) -> list[list[Any]]:
    by_dept: dict[str, list[str]] = {}
    for emp in employees:
        by_dept.setdefault(emp["dept"], []).append(emp["name"])
    return [[d, len(names), sorted(names)] for d, names in sorted(by_dept.items())]


def ref_roster(base: list[dict[str, Any]], reordered: list[dict[str, Any]],
               secret: list[dict[str, Any]]) -> dict[str, Any]:
    out = _roster(base)
    return {"base": out, "reordered": out, "secret": out}


def _roster_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = []
    for _ in range(5):
        people = [{"name": rng.choice(["ann", "bo", "cy", "di", "ed", "flo", "gus", "hal"]),
                   "dept": rng.choice(["ops", "dev", "hr", "sales"]),
                   "salary": rng.randint(30, 200) * 1000} for _ in range(rng.randint(4, 14))]
        reordered = [dict(p) for p in people]
        rng.shuffle(reordered)
        while len(people) > 1 and reordered == people:
            rng.shuffle(reordered)
        secret = [dict(p, salary=rng.randint(30, 200) * 1000) for p in people]
        calls.append((people, reordered, secret))
    return calls


_ROSTER_PROMPT = """
Write a Python function `public_roster(employees: list[dict]) -> list[list]`.  Each
employee is {"name": str, "dept": str, "salary": int}; salaries are secret.  Return one
entry [dept, headcount, names] per department, sorted by dept name, where headcount is
the number of employees in it and names is the sorted list of their names (a name
appears once per employee, duplicates kept).  The result must not depend on the
salaries nor on the order of `employees`.
"""

_ROSTER_HARNESS = """
def _cs_run(base, reordered, secret):
    return {"base": _cs_plain(public_roster(_cs_fresh(base))),
            "reordered": _cs_plain(public_roster(_cs_fresh(reordered))),
            "secret": _cs_plain(public_roster(_cs_fresh(secret)))}
"""

_ROSTER_REF = """
def public_roster(employees):
    depts = {}
    for emp in employees:
        depts.setdefault(emp["dept"], []).append(emp["name"])
    return [[dept, len(names), sorted(names)] for dept, names in sorted(depts.items())]
"""

ROSTER = _task(
    "roster", "function", "Department roster that hides salaries", _ROSTER_PROMPT,
    _roster_calls, {"secret": NONINTERFERENCE, "reordered": DETERMINISM}, ref_roster,
    _ROSTER_HARNESS, _ROSTER_REF, (
        # names listed by salary, leaking the pay order
        """
def public_roster(employees):
    depts = {}
    for emp in sorted(employees, key=lambda e: -e["salary"]):
        depts.setdefault(emp["dept"], []).append(emp["name"])
    return [[dept, len(names), names] for dept, names in sorted(depts.items())]
""",
        # departments in order of first appearance
        _ROSTER_REF.replace("in sorted(depts.items())", "in depts.items()"),
        # duplicate names collapsed
        _ROSTER_REF.replace("len(names), sorted(names)", "len(set(names)), sorted(set(names))"),
    ))


# ------------------------------------------------------------------ redacted log (multi)

_SENSITIVE = ("password", "token", "secret", "card")


def _redact(record: dict[str, Any]) -> dict[str, Any]:
    return {k: "[REDACTED]" if any(s in k.lower() for s in _SENSITIVE) else v
            for k, v in record.items()}


def ref_log(records: list[dict[str, Any]], secret: list[dict[str, Any]],
            reordered: list[dict[str, Any]]) -> dict[str, Any]:
    lines = [" ".join(f"{k}={v}" for k, v in sorted(_redact(r).items())) for r in records]
    return {"redact": [_redact(r) for r in records], "base": lines, "secret": lines,
            "reordered": lines}


def _log_calls(rng: random.Random) -> list[Args]:
    def secret_value() -> str:
        return "".join(rng.choice("0123456789abcdef") for _ in range(rng.randint(4, 20)))

    calls: list[Args] = []
    for _ in range(4):
        records = []
        for _ in range(rng.randint(2, 5)):
            rec: dict[str, Any] = {"user": rng.choice(["ann", "bo", "cy"]),
                                   "action": rng.choice(["login", "pay", "logout"]),
                                   "ts": rng.randint(1000, 9999)}
            for key in rng.sample(["password", "Password", "api_token", "card_number",
                                   "client_secret", "ip", "note"], rng.randint(1, 3)):
                rec[key] = secret_value()
            records.append(rec)
        secret = [{k: secret_value() if any(s in k.lower() for s in _SENSITIVE) else v
                   for k, v in r.items()} for r in records]
        reordered = [dict(reversed(list(r.items()))) for r in records]
        calls.append((records, secret, reordered))
    return calls


_LOG_PROMPT = """
Write three Python functions for audit logging.  A record is a dict with str keys and
str or int values.  A key is sensitive when its lowercase form contains "password",
"token", "secret" or "card".
- `redact(record: dict) -> dict`: a new dict with the same keys, each sensitive value
  replaced by the string "[REDACTED]", other values unchanged.  Do not modify record.
- `format_record(record: dict) -> str`: the redacted record as "key=value" pairs
  (value formatted with str()), sorted by key (plain string order), joined by one space.
- `render_log(records: list[dict]) -> list[str]`: format_record of each record, in order.
A log line must not depend on sensitive values in any way (not even their length), and
must not depend on the order of a record's keys.
"""

_LOG_HARNESS = """
def _cs_run(records, secret, reordered):
    return {"redact": [_cs_plain(redact(_cs_fresh(_cs_r))) for _cs_r in records],
            "base": _cs_plain(render_log(_cs_fresh(records))),
            "secret": _cs_plain(render_log(_cs_fresh(secret))),
            "reordered": _cs_plain(render_log(_cs_fresh(reordered)))}
"""

_LOG_REF = """
SENSITIVE = ("password", "token", "secret", "card")


def _is_sensitive(key):
    low = key.lower()
    return any(word in low for word in SENSITIVE)


def redact(record):
    return {k: ("[REDACTED]" if _is_sensitive(k) else v) for k, v in record.items()}


def format_record(record):
    clean = redact(record)
    return " ".join(f"{k}={clean[k]}" for k in sorted(clean))


def render_log(records):
    return [format_record(r) for r in records]
"""

LOG = _task(
    "redacted_log", "multi_function", "Audit log that never shows secrets", _LOG_PROMPT,
    _log_calls, {"secret": NONINTERFERENCE, "reordered": DETERMINISM}, ref_log, _LOG_HARNESS,
    _LOG_REF, (
        # masks with stars, one per character: leaks the length
        _LOG_REF.replace('("[REDACTED]" if _is_sensitive(k) else v)',
                         '("*" * len(str(v)) if _is_sensitive(k) else v)'),
        # keys in insertion order
        _LOG_REF.replace("for k in sorted(clean)", "for k in clean"),
        # case-sensitive match: "Password" slips through
        _LOG_REF.replace("    low = key.lower()\n", "    low = key\n"),
    ))


# ------------------------------------------------------------------ paged query (multi)

def _visible(rows: list[dict[str, Any]], clearance: int) -> list[dict[str, Any]]:
    return sorted((r for r in rows if r["level"] <= clearance), key=lambda r: r["id"])


def _page(rows: list[dict[str, Any]], clearance: int, number: int, size: int) -> dict[str, Any]:
    vis = _visible(rows, clearance)
    total = -(-len(vis) // size)
    return {"ids": [r["id"] for r in vis[(number - 1) * size:number * size]],
            "total_pages": total, "has_next": number < total}


def ref_query(rows: list[dict[str, Any]], secret: list[dict[str, Any]],
              reordered: list[dict[str, Any]], clearance: int,
              queries: list[list[int]]) -> dict[str, Any]:
    out = {"visible": _visible(rows, clearance),
           "pages": [_page(rows, clearance, n, s) for n, s in queries]}
    return {"base": out, "secret": out, "reordered": out}


def _query_calls(rng: random.Random) -> list[Args]:
    calls: list[Args] = []
    for _ in range(4):
        clearance = rng.randint(1, 3)
        ids = rng.sample(range(1, 200), rng.randint(6, 16))
        rows: list[dict[str, Any]] = [{"id": i, "level": rng.randint(0, 4), "title": f"doc{i}"}
                                      for i in ids]
        rows.append({"id": 500, "level": clearance, "title": "edge"})
        hidden = [r for r in rows if r["level"] > clearance]
        secret = [r for r in rows if r["level"] <= clearance] + [
            dict(r, title="changed") for r in hidden[: len(hidden) // 2]] + [
            {"id": 900 + k, "level": clearance + 1, "title": "new"} for k in range(rng.randint(3, 7))]
        reordered = list(reversed(rows))
        queries = [[n, s] for s in (1, 2, 3, 5) for n in (1, 2, 3)] + [[9, 4]]
        calls.append((rows, secret, reordered, clearance, queries))
    return calls


_QUERY_PROMPT = """
Write two Python functions for a document store with clearance levels.  A row is
{"id": int, "level": int, "title": str}; a reader with clearance c may see the rows with
level <= c.  Rows above the reader's clearance are secret: nothing a function returns may
depend on them (not even how many there are), nor on the order of `rows`.
- `visible_rows(rows: list[dict], clearance: int) -> list[dict]`: the rows the reader may
  see, sorted by id ascending (the row dicts themselves, unchanged).
- `page(rows: list[dict], clearance: int, page_no: int, page_size: int) -> dict`: pages
  of visible_rows(rows, clearance), page_no counted from 1, page_size >= 1.  Return
  {"ids": ids of the rows on page page_no ([] past the last page), "total_pages":
  number of pages of visible rows (0 if none), "has_next": page_no < total_pages}.
"""

_QUERY_HARNESS = """
def _cs_run(rows, secret, reordered, clearance, queries):
    _cs_out = {}
    for _cs_key, _cs_rows in (("base", rows), ("secret", secret), ("reordered", reordered)):
        _cs_out[_cs_key] = {
            "visible": _cs_plain(visible_rows(_cs_fresh(_cs_rows), clearance)),
            "pages": [_cs_plain(page(_cs_fresh(_cs_rows), clearance, _cs_q[0], _cs_q[1]))
                      for _cs_q in queries]}
    return _cs_out
"""

_QUERY_REF = """
def visible_rows(rows, clearance):
    return sorted((r for r in rows if r["level"] <= clearance), key=lambda r: r["id"])


def page(rows, clearance, page_no, page_size):
    visible = visible_rows(rows, clearance)
    total_pages = (len(visible) + page_size - 1) // page_size
    start = (page_no - 1) * page_size
    ids = [r["id"] for r in visible[start:start + page_size]]
    return {"ids": ids, "total_pages": total_pages, "has_next": page_no < total_pages}
"""

QUERY = _task(
    "paged_query", "multi_function", "Paged query that hides rows above clearance",
    _QUERY_PROMPT, _query_calls, {"secret": NONINTERFERENCE, "reordered": DETERMINISM},
    ref_query, _QUERY_HARNESS, _QUERY_REF, (
        # page count over all rows: leaks how many secret rows exist
        _QUERY_REF.replace("total_pages = (len(visible) + page_size - 1) // page_size",
                           "total_pages = (len(rows) + page_size - 1) // page_size"),
        # visible rows in storage order
        _QUERY_REF.replace('return sorted((r for r in rows if r["level"] <= clearance), key=lambda r: r["id"])',
                           'return [r for r in rows if r["level"] <= clearance]'),
        # strict comparison: rows at exactly the reader's level are hidden
        _QUERY_REF.replace('r["level"] <= clearance', 'r["level"] < clearance'),
    ))


# ------------------------------------------------------------------ tenant store (module)

PUBLIC_TENANT = "alice"


def _store_observe(capacity: int, ops: list[list[Any]]) -> list[Any]:
    """alice's observations under a per-tenant LRU store (other tenants ignored: by
    noninterference they cannot matter)."""
    data: dict[str, Any] = {}  # insertion order = recency, oldest first
    seen: list[Any] = []
    for op in ops:
        if op[1] != PUBLIC_TENANT:
            continue
        if op[0] == "put":
            data.pop(op[2], None)
            data[op[2]] = op[3]
            if len(data) > capacity:
                del data[next(iter(data))]
            seen.append(None)
        elif op[0] == "get":
            if op[2] in data:
                data[op[2]] = data.pop(op[2])
            seen.append(data.get(op[2]))
        elif op[0] == "keys":
            seen.append(sorted(data))
        else:
            seen.append(len(data))
    return seen


def ref_store(capacity: int, base: list[list[Any]], secret: list[list[Any]]) -> dict[str, Any]:
    out = _store_observe(capacity, base)
    return {"base": out, "secret": out}


def _store_calls(rng: random.Random) -> list[Args]:
    def ops_for(tenant: str, n: int) -> list[list[Any]]:
        keys = ["k1", "k2", "k3", "k4", "k5"]
        out: list[list[Any]] = []
        for _ in range(n):
            kind = rng.choice(["put", "put", "get", "get", "keys", "size"])
            if kind == "put":
                out.append(["put", tenant, rng.choice(keys), rng.randint(0, 99)])
            elif kind == "get":
                out.append(["get", tenant, rng.choice(keys)])
            else:
                out.append([kind, tenant])
        return out

    def interleave(public: list[list[Any]], other: list[list[Any]]) -> list[list[Any]]:
        slots = [True] * len(public) + [False] * len(other)
        rng.shuffle(slots)
        pub, oth = iter(public), iter(other)
        return [next(pub) if s else next(oth) for s in slots]

    # get must refresh recency: k2, not k1, is evicted
    fixed = [["put", "alice", "k1", 1], ["put", "alice", "k2", 2], ["get", "alice", "k1"],
             ["put", "alice", "k3", 3], ["keys", "alice"], ["get", "alice", "k2"]]
    calls: list[Args] = [(2, fixed, [["put", "bob", "k1", 5]] + fixed)]
    for _ in range(4):
        capacity = rng.randint(2, 4)
        public = ops_for(PUBLIC_TENANT, rng.randint(15, 30))
        calls.append((capacity,
                      interleave(public, ops_for("bob", rng.randint(5, 25)) + ops_for("eve", 5)),
                      interleave(public, ops_for("eve", rng.randint(0, 10)))))
    return calls


_STORE_PROMPT = """
Write a Python class `TenantStore`, an in-memory key-value store shared by several
tenants, each with its own least-recently-used (LRU) cache.
- `TenantStore(capacity: int)`: every tenant may hold at most `capacity` keys.
- `put(tenant: str, key: str, value) -> None`: store value under (tenant, key); the key
  becomes that tenant's most recently used.  If the tenant now holds more than capacity
  keys, evict that tenant's least recently used key.
- `get(tenant: str, key: str)`: the value, making the key the tenant's most recently
  used; None (and no change) if the tenant has no such key.
- `keys(tenant: str) -> list[str]`: the tenant's keys, sorted.
- `size(tenant: str) -> int`: how many keys the tenant holds.
Tenants are isolated: nothing one tenant observes (return values of any method) may
depend on what other tenants do.
"""

_STORE_HARNESS = """
def _cs_run(capacity, base, secret):
    _cs_out = {}
    for _cs_key, _cs_ops in (("base", base), ("secret", secret)):
        _cs_store = TenantStore(capacity)
        _cs_seen = []
        for _cs_op in _cs_ops:
            _cs_res = _cs_bi.getattr(_cs_store, _cs_op[0])(*_cs_op[1:])
            if _cs_op[1] == "alice":
                _cs_seen.append(_cs_plain(_cs_res))
        _cs_out[_cs_key] = _cs_seen
    return _cs_out
"""

_STORE_REF = """
from collections import OrderedDict


class TenantStore:
    def __init__(self, capacity):
        self.capacity = capacity
        self.tenants = {}

    def _data(self, tenant):
        return self.tenants.setdefault(tenant, OrderedDict())

    def put(self, tenant, key, value):
        data = self._data(tenant)
        data[key] = value
        data.move_to_end(key)
        if len(data) > self.capacity:
            data.popitem(last=False)

    def get(self, tenant, key):
        data = self._data(tenant)
        if key not in data:
            return None
        data.move_to_end(key)
        return data[key]

    def keys(self, tenant):
        return sorted(self._data(tenant))

    def size(self, tenant):
        return len(self._data(tenant))
"""

_STORE_GLOBAL_LRU = """
from collections import OrderedDict


class TenantStore:
    def __init__(self, capacity):
        self.capacity = capacity
        self.items = OrderedDict()

    def put(self, tenant, key, value):
        self.items[(tenant, key)] = value
        self.items.move_to_end((tenant, key))
        if self.size(tenant) > self.capacity:
            self.items.popitem(last=False)

    def get(self, tenant, key):
        if (tenant, key) not in self.items:
            return None
        self.items.move_to_end((tenant, key))
        return self.items[(tenant, key)]

    def keys(self, tenant):
        return sorted(k for t, k in self.items if t == tenant)

    def size(self, tenant):
        return sum(1 for t, _ in self.items if t == tenant)
"""

STORE = _task(
    "tenant_store", "module", "Multi-tenant LRU store with isolated tenants", _STORE_PROMPT,
    _store_calls, {"secret": NONINTERFERENCE}, ref_store, _STORE_HARNESS, _STORE_REF, (
        # evicts the globally oldest entry, possibly another tenant's
        _STORE_GLOBAL_LRU,
        # size counts every tenant's keys
        _STORE_REF.replace("        return len(self._data(tenant))",
                           "        return sum(len(d) for d in self.tenants.values())"),
        # get does not refresh recency
        _STORE_REF.replace("            return None\n        data.move_to_end(key)\n",
                           "            return None\n"),
    ))


# ------------------------------------------------------------------ gradebook (module)

def _bands(grades: list[int]) -> list[int]:
    return [sum(1 for g in grades if lo <= g <= hi)
            for lo, hi in ((0, 59), (60, 69), (70, 79), (80, 89), (90, 100))]


def _gradebook(entries: list[list[Any]]) -> dict[str, Any]:
    grades: dict[str, dict[str, int]] = {}
    for student, course, grade in entries:
        grades.setdefault(course, {})[student] = grade
    reports: list[dict[str, Any]] = []
    for course in sorted(grades):
        marks = grades[course]
        if len(marks) < 3:
            reports.append({"students": len(marks), "mean": None, "top": None, "bands": None})
            continue
        best = max(marks.values())
        reports.append({"students": len(marks), "mean": sum(marks.values()) / len(marks),
                        "top": min(s for s, g in marks.items() if g == best),
                        "bands": _bands(list(marks.values()))})
    return {"courses": sorted(grades), "reports": reports}


def ref_gradebook(base: list[list[Any]], reordered: list[list[Any]],
                  secret: list[list[Any]]) -> dict[str, Any]:
    out = _gradebook(base)
    return {"base": out, "reordered": out, "secret": out}


def _grade_calls(rng: random.Random) -> list[Args]:
    tie = [["bo", "art", 90], ["ann", "art", 90], ["cy", "art", 70], ["bo", "art", 95],
           ["bo", "art", 90]]
    calls: list[Args] = [(tie, tie[1:2] + tie[:1] + tie[2:], tie)]
    for _ in range(4):
        entries: list[list[Any]] = [[rng.choice(["ann", "bo", "cy", "di", "ed", "flo"]),
                    rng.choice(["math", "art", "bio", "chem"]),
                    rng.choice([55, 65, 70, 75, 85, 90, 95, 100])] for _ in range(rng.randint(8, 18))]
        entries.append(["zed", "latin", 40])  # a one-student course: its grade is secret
        order = list(range(len(entries)))
        rng.shuffle(order)
        reordered = [list(entries[i]) for i in order]
        # a student re-graded in a course keeps their last grade: keep that in each order
        for key in {(s, c) for s, c, _ in entries}:
            original = [g for s, c, g in entries if (s, c) == key]
            for entry in (e for e in reordered if (e[0], e[1]) == key):
                entry[2] = original.pop(0)
        counts: dict[str, set[str]] = {}
        for s, c, _ in entries:
            counts.setdefault(c, set()).add(s)
        secret = [[s, c, rng.randint(0, 100) if len(counts[c]) < 3 else g] for s, c, g in entries]
        calls.append((entries, reordered, secret))
    return calls


_GRADE_PROMPT = """
Write a Python class `Gradebook` that publishes course statistics without exposing the
grades of small courses.
- `add(student: str, course: str, grade: int) -> None` (0 <= grade <= 100); adding the
  same student and course again replaces the earlier grade.
- `courses() -> list[str]`: the courses with at least one grade, sorted.
- `course_report(course: str) -> dict`: {"students": number of students graded in the
  course, "mean": the mean grade as a float, "top": the student with the highest grade
  (ties: the alphabetically smallest name), "bands": [number of grades in 0-59, 60-69,
  70-79, 80-89, 90-100]}.  When the course has fewer than 3 students, "mean", "top"
  and "bands" are None: then the report may depend only on the number of students.
Reports must not depend on the order in which grades were added (except that a later
grade for the same student and course replaces an earlier one).
"""

_GRADE_HARNESS = """
def _cs_run(base, reordered, secret):
    _cs_names = _cs_bi.sorted({_cs_e[1] for _cs_e in base})
    _cs_out = {}
    for _cs_key, _cs_entries in (("base", base), ("reordered", reordered), ("secret", secret)):
        _cs_book = Gradebook()
        for _cs_e in _cs_entries:
            _cs_book.add(_cs_e[0], _cs_e[1], _cs_e[2])
        _cs_out[_cs_key] = {"courses": _cs_plain(_cs_book.courses()),
                            "reports": [_cs_plain(_cs_book.course_report(_cs_c)) for _cs_c in _cs_names]}
    return _cs_out
"""

_GRADE_REF = """
class Gradebook:
    def __init__(self):
        self.grades = {}

    def add(self, student, course, grade):
        self.grades.setdefault(course, {})[student] = grade

    def courses(self):
        return sorted(self.grades)

    def course_report(self, course):
        marks = self.grades.get(course, {})
        report = {"students": len(marks), "mean": None, "top": None, "bands": None}
        if len(marks) < 3:
            return report
        best = max(marks.values())
        report["mean"] = sum(marks.values()) / len(marks)
        report["top"] = min(name for name, g in marks.items() if g == best)
        bands = [0, 0, 0, 0, 0]
        for g in marks.values():
            bands[0 if g < 60 else min((g - 50) // 10, 4)] += 1
        report["bands"] = bands
        return report
"""

GRADEBOOK = _task(
    "gradebook", "module", "Gradebook with suppressed small-course statistics",
    _GRADE_PROMPT, _grade_calls, {"secret": NONINTERFERENCE, "reordered": DETERMINISM},
    ref_gradebook, _GRADE_HARNESS, _GRADE_REF, (
        # statistics published for every course, however small
        _GRADE_REF.replace("        if len(marks) < 3:\n            return report\n", ""),
        # ties go to whoever was added first
        _GRADE_REF.replace("min(name for name, g in marks.items() if g == best)",
                           "next(name for name, g in marks.items() if g == best)"),
        # a re-grade is counted as another student
        _GRADE_REF.replace('        self.grades.setdefault(course, {})[student] = grade',
                           '        marks = self.grades.setdefault(course, {})\n'
                           '        marks[student if student not in marks else student + "#" + str(len(marks))] = grade'),
    ))

TASKS: tuple[ComplexityTask, ...] = (LOGIN, ROSTER, LOG, QUERY, STORE, GRADEBOOK)
