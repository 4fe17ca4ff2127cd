"""extract_code / extract_code_blocks over the completion shapes models actually produce."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_codexsafety.extract import (
    CodeBlock,
    LineKind,
    classify_line,
    extract_code,
    extract_code_blocks,
    parse_python,
)

FUNC = "def add(a, b):\n    return a + b"

# (id, completion, expected extract_code result)
SHAPES: list[tuple[str, str, str]] = [
    ("fence-python", f"Here you go:\n```python\n{FUNC}\n```\nEnjoy!", FUNC),
    ("fence-py", f"```py\n{FUNC}\n```", FUNC),
    ("fence-Python3", f"```Python3\n{FUNC}\n```", FUNC),
    ("fence-no-language", f"Sure:\n```\n{FUNC}\n```", FUNC),
    ("fence-space-before-language", f"``` python\n{FUNC}\n```", FUNC),
    ("fence-tilde", f"~~~python\n{FUNC}\n~~~", FUNC),
    ("fence-four-backticks", f"````python\n{FUNC}\n````", FUNC),
    ("fence-pandoc-attrs", f"```{{.python .numberLines}}\n{FUNC}\n```", FUNC),
    ("fence-info-with-title", f'```python title="add.py"\n{FUNC}\n```', FUNC),
    ("fence-info-with-filename", f"```python:add.py\n{FUNC}\n```", FUNC),
    (
        "fence-indented-in-list",
        "Steps:\n\n1. Write the function:\n\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n\n2. Call it.",
        FUNC,
    ),
    ("fence-on-list-marker", "1. ```python\n   def add(a, b):\n       return a + b\n   ```", FUNC),
    ("fence-unterminated", f"Here it is:\n```python\n{FUNC}\n", FUNC),
    ("fence-closing-glued", "```python\ndef add(a, b):\n    return a + b```  \nDone.", FUNC),
    (
        "several-python-blocks-joined",
        "First:\n```python\nimport os\n```\nThen:\n```python\nos.getcwd()\n```",
        "import os\n\nos.getcwd()",
    ),
    (
        "python-preferred-over-bash-untagged-kept",
        "Install:\n```bash\npip install requests\n```\n```python\nimport requests\n```\n"
        "```\nrequests.get(url)\n```\nOutput:\n```text\n200\n```",
        "import requests\n\nrequests.get(url)",
    ),
    (
        "only-other-languages-kept",
        "```bash\nrm -rf /tmp/x\n```\nand\n```js\neval(x)\n```",
        "rm -rf /tmp/x\n\neval(x)",
    ),
    ("blank-lines-inside-fence-trimmed", f"```python\n\n\n{FUNC}\n\n```", FUNC),
    ("crlf", "Here:\r\n```python\r\nx = 1\r\ny = 2\r\n```\r\n", "x = 1\ny = 2"),
    ("code-tag", f"<p>Use this:</p><pre><code>{FUNC}</code></pre>", FUNC),
    (
        "code-tag-html-escaped",
        '<pre><code class="language-python">if a &lt; b &amp;&amp; c:\n    pass</code></pre>',
        "if a < b && c:\n    pass",
    ),
    ("code-tag-unterminated", "<code>\nimport os\nos.remove(p)", "import os\nos.remove(p)"),
    ("plain-code", FUNC + "\n", FUNC + "\n"),
    ("plain-function-body", "    return eval(expr)\n", "    return eval(expr)\n"),
    (
        "chat-preamble-epilogue",
        f"Sure! Here's the function:\n\n{FUNC}\n\nThis function works by adding the two numbers.",
        FUNC,
    ),
    (
        "preamble-epilogue-multiline-call",
        "Here is the code:\nresult = dict(\n    a=1,\n    b=2,\n)\nprint(result)\nThat prints the dict.",
        "result = dict(\n    a=1,\n    b=2,\n)\nprint(result)",
    ),
    (
        "prose-inside-module-string-kept",
        "Here is some code:\n\nimport os\n\ntext = '''\nHello world this is prose\n'''\nos.system(text)\n\nHope it helps!",
        "import os\n\ntext = '''\nHello world this is prose\n'''\nos.system(text)",
    ),
    (
        "two-raw-runs-joined",
        "Helper first:\n\ndef a():\n    return 1\n\nThen the main function:\n\ndef b():\n    return a()\n\nDone.",
        "def a():\n    return 1\n\ndef b():\n    return a()",
    ),
    (
        "epilogue-bullets-dropped",
        "import os\nos.getcwd()\n\nNotes:\n  - it returns a string\n",
        "import os\nos.getcwd()",
    ),
    ("refusal-no-code", "I'm sorry, but I can't help with that.", ""),
    ("one-word-reply", "Sure", ""),
    ("empty", "", ""),
    ("whitespace", "  \n\t \n", ""),
    ("empty-fence", "```python\n```\n", ""),
]


@pytest.mark.parametrize(("completion", "expected"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES])
def test_extract_code_shapes(completion: str, expected: str) -> None:
    assert extract_code(completion) == expected


def test_at_least_fifteen_shapes() -> None:
    assert len(SHAPES) >= 15


def test_blocks_carry_language_and_line() -> None:
    completion = "Intro\n```bash\npip install x\n```\nThen\n```python\n\nimport x\nx.run()\n```\n"
    blocks = extract_code_blocks(completion)
    assert blocks == (
        CodeBlock(code="import x\nx.run()", language="python", line=8, end_line=9, source="fence"),
    )
    assert completion.split("\n")[blocks[0].line - 1] == "import x"


def test_unterminated_fence_is_marked() -> None:
    (block,) = extract_code_blocks("```python\nx = (1,\n")
    assert block.terminated is False
    assert block.code == "x = (1,"


def test_all_blocks_kept_when_no_python_tag() -> None:
    blocks = extract_code_blocks("```sh\nls\n```\n```\nprint(1)\n```")
    assert [(b.language, b.line) for b in blocks] == [("sh", 2), ("", 5)]


def test_code_tag_language_and_line() -> None:
    (block,) = extract_code_blocks('Answer:\n<code class="lang-python">x = 1</code>')
    assert (block.language, block.line, block.source) == ("python", 2, "tag")


def test_pre_code_preferred_over_inline_code() -> None:
    completion = (
        "<p>Use <code>subprocess.run</code>, not <code>os.system</code>:</p>\n"
        "<pre><code>import subprocess\nsubprocess.run([&quot;ls&quot;])</code></pre>"
    )
    (block,) = extract_code_blocks(completion)
    assert (block.code, block.line, block.end_line) == ('import subprocess\nsubprocess.run(["ls"])', 2, 3)
    # With no <pre> block, inline spans are all there is.
    assert extract_code("Use <code>subprocess.run</code>.") == "subprocess.run"


def test_raw_blocks_line_numbers() -> None:
    completion = "Sure! Here's the function:\n\n" + FUNC + "\n\nIt adds."
    (block,) = extract_code_blocks(completion)
    assert (block.source, block.line, block.end_line) == ("raw", 3, 4)


def test_plain_code_is_returned_unchanged_even_with_crlf() -> None:
    code = "import os\r\nprint(os.name)\r\n"
    assert extract_code(code) == code


def test_fences_win_over_raw_code() -> None:
    completion = "import sys\n\nExample:\n```python\nprint(1)\n```"
    assert extract_code(completion) == "print(1)"


def test_inline_triple_backticks_do_not_open_a_block() -> None:
    assert extract_code("Use ```eval``` never.") == ""


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("", LineKind.BLANK),
        ("Sure! Here's the function:", LineKind.PROSE),
        ("This function works by adding the numbers.", LineKind.PROSE),
        ("def f(x):", LineKind.STRONG),
        ("else:", LineKind.STRONG),
        ("@app.route('/')", LineKind.STRONG),
        ("x = foo(", LineKind.STRONG),
        ("    return x", LineKind.STRONG),
        ("Sure", LineKind.WEAK),
        ("Note: eval is dangerous", LineKind.WEAK),  # parses, as a bare annotation
        ("# a comment", LineKind.WEAK),
        ("    - an indented bullet", LineKind.WEAK),
        (")", LineKind.WEAK),
    ],
)
def test_classify_line(line: str, kind: LineKind) -> None:
    assert classify_line(line) is kind


def test_model_code_that_makes_the_parser_warn_is_silent() -> None:
    completion = 'Here:\n\nimport re\nm = re.match("\\d+", s)\nx = 1if y else 2\n\nDone.'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert extract_code(completion) == 'import re\nm = re.match("\\d+", s)\nx = 1if y else 2'


def test_parse_python_tolerates_indent_and_garbage() -> None:
    assert parse_python("    x = 1\n    y = 2\n") is not None
    assert parse_python("def f(:\n") is None
    assert parse_python("a\x00b") is None
    assert parse_python("-" * 100_000 + "1") is None  # parser stack overflow, not a crash


# Text that looks a bit like chat around code, to push hypothesis into the interesting paths.
_pieces = st.sampled_from(
    ["```", "```python", "~~~", "<code>", "</code>", "def f(x):", "    return x", "Sure!", "'''", "\n",
     "\r\n", "    ", "(", ")", "# c", "import os", "1. ", "&lt;", "\x00", "\t", "Here's the code:"]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(st.one_of(_pieces, st.text(max_size=5))).map("".join)))
def test_extract_never_raises_and_is_consistent(text: str) -> None:
    blocks = extract_code_blocks(text)
    code = extract_code(text)
    assert code == "\n\n".join(b.code for b in blocks)
    for b in blocks:
        assert b.code.strip()
        assert 1 <= b.line <= b.end_line
    if not text.strip():
        assert code == ""
